#!/usr/bin/env python3
"""Turns run-all.sh's results.jsonl into Markdown: the machine, each
scenario's figures, and the OMP ÷ reference ratios.

usage: summarize.py machine.txt results.jsonl > summary.md
"""
import json
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    rows.append({"scenario": "?", "not_measured": True, "reason": line})
    return rows


def pick(rows, scenario, **match):
    for r in rows:
        if r.get("scenario") == scenario and not r.get("not_measured"):
            if all(r.get(k) == v for k, v in match.items()):
                return r
    return None


def ratio(a, b):
    if a is None or b in (None, 0):
        return "n/a"
    return f"{a / b:.2f}×"


def main():
    machine, results = sys.argv[1], sys.argv[2]
    rows = load(results)
    print("### Machine\n")
    print("```")
    with open(machine) as f:
        print(f.read().rstrip())
    print("```\n")
    print("### Figures\n")
    for r in rows:
        name = r.get("scenario", "?")
        if r.get("not_measured"):
            print(f"- **{name}**: not measured (exit {r.get('exit')}): {r.get('reason', '').strip()}")
            continue
        figures = ", ".join(f"{k}={v}" for k, v in r.items() if k != "scenario")
        print(f"- **{name}**: {figures}")
    print()
    ingest = pick(rows, "ingest")
    if ingest:
        n = ingest.get("gateways")
        rate = ingest.get("deliveries_per_sec")
        sqlite = pick(rows, "sqlite-ceiling")
        tcp_same = pick(rows, "tcp-ceiling", connections=n)
        tcp_100 = pick(rows, "tcp-ceiling", connections=100)
        mqtt_same = pick(rows, "mqtt-ceiling", clients=n, broker="mosquitto")
        mqtt_100 = pick(rows, "mqtt-ceiling", clients=100, broker="mosquitto")
        print("### Ratios (OMP ingest ÷ reference)\n")
        print("| reference | reference rate | OMP ingest | ratio |")
        print("|---|---|---|---|")
        for label, ref, key in [
            ("SQLite batched insert (best method)", sqlite, "rows_per_sec"),
            (f"loopback TCP req/resp, {n} connections", tcp_same, "round_trips_per_sec"),
            ("loopback TCP req/resp, 100 connections", tcp_100, "round_trips_per_sec"),
            (f"Mosquitto QoS1, {n} clients", mqtt_same, "messages_per_sec"),
            ("Mosquitto QoS1, 100 clients", mqtt_100, "messages_per_sec"),
        ]:
            value = ref.get(key) if ref else None
            print(f"| {label} | {value if value is not None else 'n/a'} | {rate} | {ratio(rate, value)} |")
        print()
    postgres = pick(rows, "ingest-postgres")
    if ingest and postgres:
        print("### Ingest by store (same load generator and gateways)\n")
        print("| store | deliveries/s | ÷ SQLite |")
        print("|---|---|---|")
        sqlite_rate = ingest.get("deliveries_per_sec")
        pg_rate = postgres.get("deliveries_per_sec")
        print(f"| SQLite (embedded) | {sqlite_rate} | 1.0 |")
        print(f"| PostgreSQL, 1 instance | {pg_rate} | {ratio(pg_rate, sqlite_rate)} |")
        print()
    omp_mqtt = [r for r in rows if r.get("scenario") == "mqtt-ceiling" and r.get("broker") == "omp"]
    if omp_mqtt:
        print("### MQTT QoS 1 (OMP ÷ Mosquitto, same clients and load)\n")
        print("| clients | Mosquitto msg/s | OMP msg/s | ratio | Mosquitto CPU µs/msg | OMP CPU µs/msg |")
        print("|---|---|---|---|---|---|")
        for omp in omp_mqtt:
            n = omp.get("clients")
            mosq = pick(rows, "mqtt-ceiling", clients=n, broker="mosquitto")
            m_rate = mosq.get("messages_per_sec") if mosq else None
            o_rate = omp.get("messages_per_sec")
            m_cpu = mosq.get("broker_cpu_us_per_message", "n/a") if mosq else "n/a"
            o_cpu = omp.get("broker_cpu_us_per_message", "n/a")
            print(f"| {n} | {m_rate if m_rate is not None else 'n/a'} | {o_rate} | {ratio(o_rate, m_rate)} | {m_cpu} | {o_cpu} |")
        print()


if __name__ == "__main__":
    main()
