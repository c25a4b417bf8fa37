#!/usr/bin/env python3
"""bench/report.py RESULTS_DIR OUT_MD PLOTS_DIR: the benchmarks report from one bench/run-all run.

Every figure of every benchmark's JSON is a row (ratios against their baselines marked), then the
sweeps as gnuplot plots. Standard library only.
"""
import datetime
import json
import os
import platform
import subprocess
import sys


def flatten(value, prefix=""):
    """Numeric and boolean leaves as (path, value)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(value, bool):
        yield prefix, "yes" if value else "no"
    elif isinstance(value, (int, float)):
        yield prefix, value


def fmt(v):
    if isinstance(v, str):
        return v
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    return f"{int(v):,}"


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024:,} MiB RAM"
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} cores, {mem}; {platform.system()} {platform.release()}; "
            f"commit {commit or 'unknown'}; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")


def quoted(text):
    """A gnuplot single-quoted string ('' is a quote inside one)."""
    return "'" + text.replace("'", "''") + "'"


def plot(plots, name, title, xlabel, ylabel, series, logx=False, boxes=False):
    """series: [(label, [(x, y), ...])]; writes PLOTS/name.png with gnuplot."""
    data = os.path.join(plots, f"{name}.dat")
    with open(data, "w") as f:
        for i, (_, points) in enumerate(series):
            for x, y in points:
                f.write(f"{x} {y}\n")
            f.write("\n\n")
    png = os.path.join(plots, f"{name}.png")
    style = "boxes fill solid 0.6" if boxes else "linespoints lw 2 pt 7"
    lines = [
        "set terminal png size 800,480",
        f"set output '{png}'",
        f"set title {quoted(title)}",
        f"set xlabel {quoted(xlabel)}",
        f"set ylabel {quoted(ylabel)}",
        "set grid",
        "set key top left",
    ]
    if logx:
        lines.append("set logscale x")
    if boxes:
        lines += ["set boxwidth 0.5", "set style data boxes", "set yrange [0:*]"]
    plots_cmd = ", ".join(f"'{data}' index {i} using 1:2 with {style} title {quoted(label)}"
                          for i, (label, _) in enumerate(series))
    if boxes:
        plots_cmd = f"'{data}' index 0 using 1:2:xtic(3) with {style} notitle"
        with open(data, "w") as f:
            for x, (label, y) in enumerate(series[0][1]):
                f.write(f"{x} {y} \"{label}\"\n")
    lines.append("plot " + plots_cmd)
    subprocess.run(["gnuplot"], input="\n".join(lines) + "\n", text=True, check=True)
    os.remove(data)
    return f"{os.path.basename(plots)}/{name}.png"


def main():
    results, out_md, plots = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(plots, exist_ok=True)
    runs = {}
    for name in sorted(os.listdir(results)):
        if name.endswith(".json"):
            with open(os.path.join(results, name)) as f:
                runs[name[:-5]] = json.load(f)
    md = ["# Benchmarks", "",
          "Made by one `bench/run-all` run (release build, every figure side by side with its baseline in the",
          "same process). Do not edit by hand: run `bench/run-all` again.", "",
          f"Machine: {machine()}.", "",
          "Goals from the issues: drain ≥ 0.8 of a hand-written curl loop, relay ≥ 0.5 of direct, an indexed",
          "query ≥ 0.7 of raw SQLite, live-query notification p50 ≤ 1 ms, device-to-device push p50 ≤ 50 ms.", ""]
    md += ["| benchmark | figure | value |", "|---|---|---|"]
    for name, result in runs.items():
        if name.startswith("sweep-"):
            continue
        for path, value in flatten(result):
            mark = "**" if "ratio" in path else ""
            md.append(f"| {name} | {mark}{path}{mark} | {mark}{fmt(value)}{mark} |")
        if "note" in result:
            md.append(f"| {name} | note | {str(result['note']).replace('|', '/')} |")
    md.append("")

    drain = sorted((r["batch_size"], r) for n, r in runs.items() if n.startswith("sweep-drain-"))
    if drain:
        img = plot(plots, "drain_batch", "Outbox drain against batch size", "mutations per batch request",
                   "mutations/s", [("engine", [(b, r["engine_mutations_per_s"]) for b, r in drain]),
                                    ("hand-written curl loop", [(b, r["hand_written_loop_mutations_per_s"]) for b, r in drain])],
                   logx=True)
        md += ["## Drain rate against batch size", "", f"![drain rate against batch size]({img})", ""]
    pull = sorted((r["large_store_records"], r) for n, r in runs.items() if n.startswith("sweep-pull-"))
    if pull:
        img = plot(plots, "pull_store", "Pulling one change against the size of the store", "records in the store",
                   "ms per pulled change", [("one change into the store", [(n, r["one_change_ms_large_store"]) for n, r in pull])],
                   logx=True)
        md += ["## Pull time against store size", "", f"![pull time against store size]({img})", ""]
    if "ipc" in runs:
        r = runs["ipc"]
        img = plot(plots, "ipc_tcp", "A small request's round trip", "", "microseconds",
                   [("round trip", [("Unix socket (IPC)", r["ipc_round_trip_us"]), ("TCP loopback", r["tcp_round_trip_us"]),
                                    ("raw socket", r["raw_socket_round_trip_us"])])], boxes=True)
        md += ["## IPC against TCP", "", f"![IPC against TCP]({img})", ""]
    with open(out_md, "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
