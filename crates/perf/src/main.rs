//! The `warren-perf` binary: parses the command line, runs, and is the only place that prints.
#![allow(clippy::print_stdout)]

use clap::Parser;
use std::process::ExitCode;
use warren_perf::cli::{Cli, Command};
use warren_perf::{compare, floor, report, runner, scenario, soak};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warren-perf: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warren-perf: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_json(path: &Option<String>, v: &serde_json::Value) -> Result<(), String> {
    if let Some(p) = path {
        let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
        std::fs::write(p, text + "\n").map_err(|e| format!("writing {p}: {e}"))?;
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::List(a) => {
            let p = scenario::StandardParams {
                duration: std::time::Duration::from_secs_f64(a.duration.max(0.001)),
                ..Default::default()
            };
            for s in scenario::standard_set(&p) {
                println!("{:<22} {}", s.name, s.description);
            }
            Ok(())
        }
        Command::Run(a) => {
            let sc = a.to_scenario()?;
            let target = a.target()?;
            eprintln!(
                "running {} ({}) against {}",
                sc.name, sc.description, target.label
            );
            let r = runner::run_with(&sc, &target, a.options())
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", report::runs_table(std::slice::from_ref(&r)));
            print!("{}", report::details(std::slice::from_ref(&r)));
            write_json(&a.json, &r.to_json())?;
            if a.keep {
                print!("{}", report::kept(&r));
            }
            Ok(())
        }
        Command::Floor(a) => {
            let spec = a.spec()?;
            let mut floor_runs = report::FloorRuns {
                scenario: "floor".into(),
                runs: Vec::new(),
            };
            for round in 1..=a.rounds.max(1) {
                let l = floor::measure(spec).await.map_err(|e| e.to_string())?;
                println!(
                    "round {round}: p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us ({} records)",
                    l.p50_us, l.p99_us, l.p999_us, l.max_us, l.count
                );
                floor_runs.runs.push(l);
            }
            let (p50, p99) = report::floor_medians(&floor_runs);
            println!(
                "median: p50 {} us, p99 {} us",
                report::fmt_num(p50),
                report::fmt_num(p99)
            );
            Ok(())
        }
        Command::Compare(a) => {
            let set = a.scenarios()?;
            let (ta, tb) = a.targets()?;
            let rep = compare::compare(&set, &ta, &tb, a.rounds, a.pause(), |line| {
                eprintln!("{line}")
            })
            .await;
            println!("## Runs\n");
            println!("{}", report::runs_table(&rep.runs));
            print!("{}", report::details(&rep.runs));
            for (s, b, e) in &rep.failures {
                println!("- {s} on {b} FAILED: {e}");
            }
            println!("\n## {} vs {}\n", rep.a, rep.b);
            println!("{}", report::compare_table(&rep.a, &rep.b, &rep.rows));
            if !rep.floors.is_empty() {
                println!("\n## Latency floor of this machine (a forwarder doing no work)\n");
                println!(
                    "{}",
                    report::floor_table(&rep.a, &rep.b, &rep.floors, &rep.rows)
                );
            }
            write_json(&a.json, &rep.to_json())
        }
        Command::Soak(a) => {
            let spec = a.spec()?;
            let r = soak::run(&spec, |line| eprintln!("{line}"))
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", soak::report::markdown(&r));
            write_json(&a.json, &soak::report::to_json(&r))
        }
        Command::SoakReport(a) => {
            let mut runs = Vec::new();
            for f in &a.files {
                let text = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
                runs.push(serde_json::from_str(&text).map_err(|e| format!("{f}: {e}"))?);
            }
            print!("{}", soak::report::side_by_side(&runs)?);
            Ok(())
        }
    }
}
