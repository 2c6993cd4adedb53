/** Bench results: JSON lines (`--json`) for machines, an aligned table for people. */
export interface Result {
  bench: string;
  metric: string;
  value: number;
  unit: string;
}

export class Report {
  readonly results: Result[] = [];
  constructor(readonly json: boolean) {}

  add(bench: string, metric: string, value: number, unit: string): void {
    const r = { bench, metric, value: Number(value.toFixed(4)), unit };
    this.results.push(r);
    if (this.json) process.stdout.write(JSON.stringify(r) + '\n');
    else process.stdout.write(`  ${bench.padEnd(28)} ${metric.padEnd(34)} ${String(r.value).padStart(12)} ${unit}\n`);
  }

  note(text: string): void {
    if (!this.json) process.stdout.write(text + '\n');
    else process.stderr.write(text + '\n');
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
