//! The charts of `benches/compare/run.py`: for each scenario in its
//! results, an SVG with requests per second, the server's CPU time per
//! request and (when measured) its memory per idle connection, one bar
//! per server.
//!
//! `cargo run --release -p tetsuo-benches --example compare_charts -- target/compare/results.json docs/img`

use plotters::prelude::*;
use serde_json::Value;

/// One panel: a bar per server.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    bars: &[(String, f64)],
) -> Result<(), Box<dyn std::error::Error>> {
    let top = bars.iter().map(|b| b.1).fold(0.0, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d((0..bars.len()).into_segmented(), 0.0..top.max(1e-9))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len())
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => bars.get(*i).map(|b| b.0.clone()).unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|y| {
            if *y >= 1000.0 {
                format!("{:.0}k", y / 1000.0)
            } else {
                format!("{y:.1}")
            }
        })
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (name, v))| {
        let color = if name.starts_with("tetsuo") {
            RGBColor(0, 102, 204)
        } else {
            RGBColor(150, 150, 150)
        };
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), *v),
            ],
            color.filled(),
        );
        bar.set_margin(0, 0, 12, 12);
        bar
    }))?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let input = args
        .get(1)
        .map_or("target/compare/results.json", String::as_str);
    let out_dir = args.get(2).map_or("docs/img", String::as_str);
    let results: Value = serde_json::from_str(&std::fs::read_to_string(input)?)?;
    std::fs::create_dir_all(out_dir)?;
    for scenario in results["scenarios"].as_array().ok_or("no scenarios")? {
        let rows = scenario["rows"].as_array().ok_or("no rows")?;
        let series = |field: &str, scale: f64| -> Vec<(String, f64)> {
            rows.iter()
                .filter_map(|r| {
                    Some((r["server"].as_str()?.to_owned(), r[field].as_f64()? * scale))
                })
                .collect()
        };
        let rps = series("rps", 1.0);
        let cpu = series("cpu_us", 1.0);
        let idle = series("idle_bytes", 1.0 / 1024.0);
        let panels = if idle.is_empty() { 2 } else { 3 };
        let path = format!(
            "{out_dir}/compare-{}.svg",
            scenario["key"].as_str().unwrap_or("x")
        );
        let root = SVGBackend::new(&path, (330 * panels as u32, 300)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = scenario["title"].as_str().unwrap_or("");
        let root = root.titled(title, ("sans-serif", 18))?;
        let areas = root.split_evenly((1, panels));
        panel(&areas[0], "requests/s (higher is better)", &rps)?;
        panel(&areas[1], "server CPU µs per request", &cpu)?;
        if panels == 3 {
            panel(&areas[2], "KiB per idle connection", &idle)?;
        }
        root.present()?;
        println!("{path}");
    }
    Ok(())
}
