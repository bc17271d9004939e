//! `avfoil inspect`: what an ONNX file holds and whether avfoil can run it, before any work.

use anyhow::Result;
use avfoil::onnx::Plan;
use avfoil::onnx::plan::Port;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// An ONNX file.
    file: PathBuf,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

fn shape(p: &Port) -> String {
    let axes: Vec<String> = p
        .shape
        .iter()
        .map(|d| d.map_or("?".into(), |d| d.to_string()))
        .collect();
    format!("{} [{}]", p.dtype, axes.join(", "))
}

pub fn run(args: InspectArgs) -> Result<()> {
    let plan = Plan::read_any(&args.file)?;
    let nodes: usize = plan.op_counts.values().sum();
    if args.json {
        let ports = |ps: &[Port]| -> Vec<serde_json::Value> {
            ps.iter()
                .map(|p| json!({"name": p.name, "dtype": p.dtype, "shape": p.shape}))
                .collect()
        };
        let doc = json!({
            "file": args.file.display().to_string(),
            "opsets": plan.opsets.iter().map(|(d, v)| json!({"domain": d, "version": v})).collect::<Vec<_>>(),
            "inputs": ports(&plan.inputs),
            "outputs": ports(&plan.outputs),
            "nodes": nodes,
            "ops": plan.op_counts,
            "parameters": plan.parameter_count,
            "supported": plan.unsupported.is_empty(),
            "unsupported": plan.unsupported,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let opset = plan
        .standard_opset()
        .map_or("no standard opset".into(), |v| format!("opset {v}"));
    println!(
        "{}: {opset}, {nodes} nodes, {} parameters",
        args.file.display(),
        plan.parameter_count
    );
    for (title, ports) in [("inputs", &plan.inputs), ("outputs", &plan.outputs)] {
        println!("{title}:");
        for p in ports {
            println!("  {}  {}", p.name, shape(p));
        }
    }
    let ops: Vec<String> = plan
        .op_counts
        .iter()
        .map(|(op, n)| format!("{op} x{n}"))
        .collect();
    println!("ops: {}", ops.join(", "));
    if plan.unsupported.is_empty() {
        println!("every op is supported");
    } else {
        println!("unsupported: {}", plan.unsupported.join(", "));
    }
    Ok(())
}
