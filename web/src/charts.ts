/** uPlot time-series charts sized to their container. */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface SeriesSpec {
  label: string;
  color: string;
  fill?: boolean;
}

export class TimeChart {
  private plot: uPlot | null = null;
  private key = '';
  private raw: number[][] = [];

  constructor(
    private readonly box: HTMLElement,
    private readonly unit: string,
    private readonly stacked = false,
  ) {}

  /** Redraws with new data; the series list may change (new failure codes appear). */
  update(xs: number[], series: SeriesSpec[], values: Array<Array<number | null>>): void {
    const key = series.map((s) => s.label).join('|');
    let data: Array<Array<number | null>> = values;
    if (this.stacked) {
      // Stack bottom-up, then draw the tallest band first so each lower band paints over it.
      const sums: number[][] = [];
      let acc = xs.map(() => 0);
      for (const v of values) {
        acc = acc.map((a, i) => a + (v[i] ?? 0));
        sums.push(acc);
      }
      this.raw = values.map((v) => v.map((x) => x ?? 0)).reverse();
      data = sums.reverse();
      series = [...series].reverse();
    }
    if (!this.plot || key !== this.key) {
      this.plot?.destroy();
      this.key = key;
      const width = Math.max(300, this.box.clientWidth);
      this.plot = new uPlot(
        {
          width,
          height: 200,
          scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
          axes: [{}, { label: this.unit, size: 60 }],
          legend: { live: true },
          series: [
            {},
            ...series.map((s, i) => ({
              label: s.label,
              stroke: s.color,
              width: 2,
              fill: s.fill || this.stacked ? s.color + (this.stacked ? 'cc' : '22') : undefined,
              // Dots where a bucket stands alone between empty ones (a latency with no neighbour draws no line).
              points: this.stacked ? { show: false } : { show: true, size: 4, fill: s.color },
              value: this.stacked ? (_u: uPlot, _v: number | null, _si: number, idx: number | null) => (idx === null ? '–' : fmt(this.raw[i]?.[idx] ?? 0)) : (_u: uPlot, v: number | null) => (v === null ? '–' : fmt(v)),
            })),
          ],
        },
        [xs, ...data] as uPlot.AlignedData,
        this.box,
      );
    } else this.plot.setData([xs, ...data] as uPlot.AlignedData);
  }

  resize(): void {
    this.plot?.setSize({ width: Math.max(300, this.box.clientWidth), height: 200 });
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = null;
  }
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}
