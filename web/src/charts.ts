/** uPlot time-series charts sized to their container, with a compact legend of the series present. */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { axisTime, h } from './dom.js';

export interface SeriesSpec {
  label: string;
  color: string;
  fill?: boolean;
}

const HEIGHT = 200;

export class TimeChart {
  private plot: uPlot | null = null;
  private key = '';
  private readonly area: HTMLElement;
  private readonly legend: HTMLElement;

  constructor(
    private readonly box: HTMLElement,
    private readonly unit: string,
    private readonly stacked = false,
  ) {
    this.area = h('div', { class: 'chart-area' });
    this.legend = h('div', { class: 'chart-legend' });
    box.append(this.area, this.legend);
  }

  /** Redraws with new data; the series list may change (new failure codes appear). */
  update(xs: number[], series: SeriesSpec[], values: Array<Array<number | null>>): void {
    // The legend names the series drawn: one swatch each, never a table of empty values.
    this.legend.replaceChildren(...series.map((s) => h('span', { class: 'legend-item' }, h('span', { class: 'swatch', style: `background:${s.color}` }), s.label)));
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
      data = sums.reverse();
      series = [...series].reverse();
    }
    if (!this.plot || key !== this.key) {
      this.plot?.destroy();
      this.key = key;
      this.plot = new uPlot(
        {
          width: this.width(),
          height: HEIGHT,
          scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
          axes: [{ values: (_u, splits, _ai, _space, incr) => splits.map((s) => axisTime(s * 1000, incr * 1000)) }, { label: this.unit, size: 60 }],
          legend: { show: false },
          series: [
            {},
            ...series.map((s) => ({
              label: s.label,
              stroke: s.color,
              width: 2,
              fill: s.fill || this.stacked ? s.color + (this.stacked ? 'cc' : '22') : undefined,
              // A bucket without calls has no latency: the line goes on to the next bucket that has one.
              spanGaps: true,
              points: this.stacked ? { show: false } : { show: true, size: 4, fill: s.color },
            })),
          ],
        },
        [xs, ...data] as uPlot.AlignedData,
        this.area,
      );
    } else this.plot.setData([xs, ...data] as uPlot.AlignedData);
  }

  private width(): number {
    return Math.max(240, this.box.clientWidth);
  }

  resize(): void {
    this.plot?.setSize({ width: this.width(), height: HEIGHT });
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = null;
  }
}
