"""One PNG per bench record: throughput ramp, latency, fan-out, capacity, API scaling, comparison.

`python -m bench.plot bench/results/<date>-<name>.json` redraws a record's plot.
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _ramp(ax, record: dict) -> None:
    ramp = record["scenarios"].get("throughput", {})
    steps = ramp.get("steps", [])
    if not steps:
        ax.set_title("throughput: no data")
        return
    offered = [s["offered_rate"] for s in steps]
    ax.plot(offered, offered, color="0.8", linestyle="--", label="offered")
    ax.plot(offered, [s["delivered_rate"] for s in steps], marker="o", label="delivered msg/s")
    for s in steps:
        if not s["passed"]:
            ax.annotate("broke", (s["offered_rate"], s["delivered_rate"]), color="red", fontsize=8)
    ax.axhline(record["targets"]["throughput_msgs_per_s"], color="green", linewidth=0.8, label="target")
    ax.set_xlabel("offered msg/s (1:1 conversations)")
    ax.set_ylabel("delivered msg/s")
    lat = ax.twinx()
    lat.plot(offered, [s["latency"]["p50"] for s in steps], color="tab:orange", marker=".", label="p50 ms")
    lat.plot(offered, [s["latency"]["p99"] for s in steps], color="tab:red", marker=".", label="p99 ms")
    lat.set_yscale("log")
    lat.set_ylabel("send→receive latency (ms)")
    lines = ax.get_legend_handles_labels()[0] + lat.get_legend_handles_labels()[0]
    ax.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="upper left")
    ax.set_title(f"throughput: {ramp['max_sustained_rate']} msg/s sustained, exactly once")


def _latency(ax, record: dict) -> None:
    s = record["scenarios"]
    bars, labels = [], []
    lat = (s.get("latency", {}).get("steps") or [None])[0]
    if lat:
        bars.append([lat["latency"][k] or 0 for k in ("p50", "p95", "p99")])
        labels.append(f"1:1 at {lat['offered_rate']} msg/s")
    fan = s.get("fanout", {}).get("latency_to_last_member")
    if fan:
        bars.append([fan[k] or 0 for k in ("p50", "p95", "p99")])
        labels.append(f"to last of {s['fanout']['members']} members")
    width = 0.25
    for i, pct in enumerate(("p50", "p95", "p99")):
        xs = [j + (i - 1) * width for j in range(len(bars))]
        ax.bar(xs, [b[i] for b in bars], width, label=pct)
        for x, b in zip(xs, bars, strict=True):
            ax.text(x, b[i], f"{b[i]:.0f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(bars)), labels, fontsize=8)
    targets = record["targets"]
    ax.axhline(targets["latency_p99_ms_at_500"], color="green", linewidth=0.8, linestyle=":", label="1:1 p99 target")
    ax.axhline(targets["fanout_p99_ms_200_members"], color="purple", linewidth=0.8, linestyle=":", label="group target")
    ax.set_ylabel("ms")
    ax.legend(fontsize=7)
    ax.set_title("send → other participant's socket")


def _capacity(ax, record: dict) -> None:
    cap = record["scenarios"].get("capacity", {})
    steps = cap.get("steps", [])
    if not steps:
        ax.set_title("capacity: no data")
        return
    ax.plot([s["open"] for s in steps], [s["server_rss_kib"] / 1024 for s in steps], marker="o", label="server RSS MiB")
    ax.set_xlabel("idle sockets held by one process")
    ax.set_ylabel("resident memory (MiB)")
    per = ax.twinx()
    per.plot([s["open"] for s in steps], [s["rss_per_socket_kib"] for s in steps], color="tab:red", marker=".")
    per.axhline(record["targets"]["rss_per_socket_kib"], color="green", linewidth=0.8, linestyle=":")
    per.set_ylabel("KiB per socket", color="tab:red")
    per.set_ylim(bottom=0)
    ax.set_title(f"capacity: {cap['max_idle_sockets']} idle sockets, {cap['rss_per_socket_kib']} KiB each")


def _api(ax, record: dict) -> None:
    api = record["scenarios"].get("api", {})
    rows = api.get("sizes", [])
    if not rows:
        ax.set_title("API: no data")
        return
    sizes = [r["size"] for r in rows]
    lines = (
        ("list", "GET /api/conversations/ (first page)"),
        ("list_walk", "all its pages (q: per page)"),
        ("history", "history page (50)"),
    )
    for endpoint, label in lines:
        if not all(endpoint in r for r in rows):  # records from before the list had pages
            continue
        p50 = [r[endpoint]["latency"]["p50"] for r in rows]
        ax.plot(sizes, p50, marker="o", label=f"{label} p50")
        for x, y, r in zip(sizes, p50, rows, strict=True):
            ax.annotate(f"{r[endpoint]['queries']}q", (x, y), fontsize=7, textcoords="offset points", xytext=(3, 3))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("conversations of the user")
    ax.set_ylabel("latency p50 (ms)")
    ax.legend(fontsize=7)
    ax.set_title("API as a user's data grows (q = queries)")


def _comparison(ax, record: dict) -> None:
    rows = [r for r in record.get("comparison", []) if "throughput" in r]
    if not rows:
        ax.axis("off")
        ax.text(0.5, 0.5, "comparison of setups: run with --full or --compare", ha="center", fontsize=9)
        return
    labels = [r["config"]["label"] for r in rows]
    rates = [r["throughput"].get("max_sustained_rate", 0) for r in rows]
    ax.barh(labels, rates, color="tab:blue")
    for i, r in enumerate(rows):
        p99 = (r.get("latency", {}).get("steps") or [{}])[0].get("latency", {}).get("p99")
        fan = r.get("fanout", {}).get("latency_to_last_member", {}).get("p99")
        cpu = ((r["throughput"].get("steps") or [{}])[0].get("cpu_ms_per_message") or {}).get("server")
        ax.text(
            rates[i],
            i,
            f" {rates[i]:.0f}/s · {cpu} ms CPU/msg · p99@500 {p99} ms · group p99 {fan} ms",
            va="center",
            fontsize=7,
        )
    ax.set_xlabel("sustained msg/s (1:1, exactly once)")
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title("server setups compared")


def plot(record: dict, path: Path) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    _ramp(axes[0][0], record)
    _latency(axes[0][1], record)
    _capacity(axes[0][2], record)
    _api(axes[1][0], record)
    _comparison(axes[1][1], record)
    axes[1][2].axis("off")
    m, v = record["machine"], record["versions"]
    text = (
        f"{record['name']} · {record['started_at'][:19]}\n{m['cpu']}\n{m['cores']} cores, {m['memory_gib']} GiB\n"
        f"Django {v.get('Django')}, channels {v.get('channels')}, channels-redis {v.get('channels-redis')}\n"
        f"daphne {v.get('daphne')}, uvicorn {v.get('uvicorn', '-')}, PostgreSQL {v.get('postgresql', '?').split()[0]}, "
        f"Redis {v.get('redis_server', '?')}\ncommit {v.get('brewverse_commit', '?')[:12]}\n\n"
        + "\n".join(f"{k}: {'met' if ok else 'NOT met'}" for k, ok in record["summary"].get("targets_met", {}).items())
    )
    axes[1][2].text(0, 1, text, va="top", fontsize=8, family="monospace")
    fig.suptitle(f"Brewverse benchmark — production setup {record['settings']['production']['label']}")
    fig.tight_layout()
    fig.savefig(path, dpi=64, pil_kwargs={"optimize": True})
    plt.close(fig)


if __name__ == "__main__":
    source = Path(sys.argv[1])
    plot(json.loads(source.read_text()), source.with_suffix(".png"))
