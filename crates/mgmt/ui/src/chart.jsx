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
      // At least the last two minutes, so a few samples do not stretch over years.
      scales: {
        x: { time: true, range: (_, min, max) => [Math.min(min ?? Date.now() / 1000, (max ?? Date.now() / 1000) - 120), max ?? Date.now() / 1000] },
        y: { range: (_, min, max) => [Math.min(0, min ?? 0), Math.max(1, max ?? 1)] },
      },
      legend: { live: true },
    };
    plot.current = new uPlot(opts, data, box.current);
    return () => plot.current.destroy();
  }, [width, series.join('|')]);

  useEffect(() => {
    if (!plot.current) return;
    plot.current.setData(data);
    // Without a pointer over the chart, the legend shows the newest values.
    if (plot.current.cursor.idx == null && data[0].length) plot.current.setLegend({ idx: data[0].length - 1 });
  }, [data]);

  const n = data[0].length;
  const last = series.map((s, i) => `${s} ${data[i + 1][n - 1] ?? '–'}`).join(', ');
  return (
    <figure class="chart" id={id} data-samples={n} data-last={JSON.stringify(series.map((_, i) => data[i + 1][n - 1] ?? null))}>
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={`${title}: latest ${last || 'no data yet'}`} />
    </figure>
  );
}
