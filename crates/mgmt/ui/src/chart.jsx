// Time series charts (uPlot) over samples the page takes itself each time it polls the API.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const COLOURS = ['#2f6f4f', '#d9822b', '#3b6fb6', '#b03a48', '#7a5cb0', '#6b7280'];
const MAX_SAMPLES = 180; // 15 minutes at one sample per 5 s

/**
 * A rolling set of samples: `push({name: value})` appends one point per series (a missing
 * value is a gap). Returns uPlot's column layout: [times, ...one array per series].
 */
export function useSamples(names) {
  const [data, setData] = useState(() => [[], ...names.map(() => [])]);
  const push = (values) =>
    setData((old) => {
      const next = old.map((col) => col.slice(-(MAX_SAMPLES - 1)));
      next[0].push(Date.now() / 1000);
      names.forEach((n, i) => next[i + 1].push(values[n] ?? null));
      return next;
    });
  return [data, push];
}

/** The x window: the samples, and at least the last two minutes (one sample is not years). */
function timeWindow(times) {
  const max = times.length ? times[times.length - 1] : Date.now() / 1000;
  return { min: Math.min(times.length ? times[0] : max, max - 120), max };
}

/** Fits the x axis to the samples. */
function fit(u, data) {
  u.setScale('x', timeWindow(data[0]));
}


/** A line chart; `series` names label the data columns after the time column. */
export function Chart({ title, series, data, unit = '', id }) {
  const box = useRef(null);
  const plot = useRef(null);
  const [width, setWidth] = useState(600);

  useEffect(() => {
    const el = box.current;
    const ro = new ResizeObserver(() => setWidth(Math.max(240, el.clientWidth)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const opts = {
      width,
      height: 200,
      series: [
        {},
        ...series.map((label, i) => ({
          label,
          stroke: COLOURS[i % COLOURS.length],
          width: 2,
          spanGaps: false,
          value: (_, v) => (v === null || v === undefined ? '–' : `${v.toLocaleString('en-US')}${unit}`),
        })),
      ],
      axes: [{}, { size: 60 }],
      scales: {
        x: { time: true, auto: false },
        y: { range: (_, min, max) => [Math.min(0, min ?? 0), Math.max(1, max ?? 1)] },
      },
      // The legend follows the pointer; the caption shows the newest values.
      legend: { live: true },
    };
    plot.current = new uPlot(opts, data, box.current);
    fit(plot.current, data);
    return () => plot.current.destroy();
  }, [width, series.join('|')]);

  useEffect(() => {
    if (!plot.current) return;
    plot.current.setData(data);
    fit(plot.current, data);
  }, [data]);

  const n = data[0].length;
  const fmt = (v) => (v === null || v === undefined ? '–' : `${v.toLocaleString('en-US')}${unit}`);
  const last = series.map((s, i) => `${s} ${fmt(data[i + 1][n - 1])}`).join(' · ');
  return (
    <figure class="chart" id={id} data-samples={n} data-last={JSON.stringify(series.map((_, i) => data[i + 1][n - 1] ?? null))}>
      <figcaption>
        {title} <span class="latest">{n ? last : 'waiting for the first sample'}</span>
      </figcaption>
      <div ref={box} role="img" aria-label={`${title}: latest ${n ? last : 'no data yet'}`} />
    </figure>
  );
}
