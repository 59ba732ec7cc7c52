// Sparklines of one interface over the last minutes (uPlot).
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { CounterSample } from "./context";
import { formatBps } from "./nodes";

const SERIES: { title: string; keys: [keyof CounterSample, keyof CounterSample]; fmt: (v: number) => string; scale?: number }[] = [
  { title: "bits/s", keys: ["rx_bps", "tx_bps"], fmt: formatBps },
  { title: "packets/s", keys: ["rx_pps", "tx_pps"], fmt: (v) => `${v.toFixed(0)} p/s` },
  { title: "errors", keys: ["rx_errors", "tx_errors"], fmt: (v) => v.toFixed(0) },
  { title: "drops", keys: ["rx_dropped", "tx_dropped"], fmt: (v) => v.toFixed(0) },
];

function Spark({ samples, spec }: { samples: CounterSample[]; spec: (typeof SERIES)[number] }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data: uPlot.AlignedData = [
    samples.map((s) => s.t),
    samples.map((s) => Number(s[spec.keys[0]] ?? 0)),
    samples.map((s) => Number(s[spec.keys[1]] ?? 0)),
  ];
  useEffect(() => {
    plot.current = new uPlot(
      {
        width: 260,
        height: 70,
        legend: { show: false },
        cursor: { show: false },
        axes: [{ show: false }, { show: false }],
        scales: { x: { time: true } },
        series: [
          {},
          { stroke: "#2563eb", width: 1.5, fill: "rgba(37,99,235,0.08)", points: { show: false } },
          { stroke: "#f97316", width: 1.5, points: { show: false } },
        ],
      },
      data,
      el.current!,
    );
    return () => plot.current?.destroy();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  useEffect(() => {
    plot.current?.setData(data);
  });
  const last = samples[samples.length - 1];
  return (
    <div className="spark">
      <div className="spark-head">
        <b>{spec.title}</b>
        {last && (
          <span>
            <span className="rx">rx {spec.fmt(Number(last[spec.keys[0]]))}</span> · <span className="tx">tx {spec.fmt(Number(last[spec.keys[1]]))}</span>
          </span>
        )}
      </div>
      <div ref={el} />
    </div>
  );
}

export function InterfaceStats({ id, samples }: { id: string; samples: CounterSample[] }) {
  if (!samples.length)
    return <p className="muted">No counters for {id} yet: they arrive once a second while the lab runs.</p>;
  const last = samples[samples.length - 1];
  return (
    <div className="stats">
      <div className="stats-title">
        <b>{id}</b> <span className={`badge ${last.oper === "up" ? "state-running" : "state-failed"}`}>{last.oper ?? "?"}</span>
        <span className="muted"> last {Math.round(samples[samples.length - 1].t - samples[0].t)} s</span>
      </div>
      <div className="sparks">
        {SERIES.map((s) => (
          <Spark key={s.title} samples={samples} spec={s} />
        ))}
      </div>
    </div>
  );
}
