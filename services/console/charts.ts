import { Decimal } from 'decimal.js';
import { html, type Html } from './html.ts';

/** One bar: its label, its size (a decimal string or whole number: money stays exact until it becomes pixels), the text shown. */
export interface Bar {
  label: string;
  value: Decimal.Value;
  text: string;
  /** Drawn red: needs a person. */
  alert?: boolean;
}

const BLUE = '#0b5cad';
const RED = '#c81e1e';

/** Pixels for a value against the largest (at least 1 when above zero, so a small day still shows). */
function scale(value: Decimal.Value, max: Decimal, pixels: number): number {
  const v = new Decimal(value);
  if (v.lte(0) || max.lte(0)) return 0;
  return Math.max(1, v.div(max).mul(pixels).round().toNumber());
}

/**
 * Columns over days, drawn on the server as inline SVG (no script, no network). Each column has
 * a <title> (a tooltip, and what a screen reader reads); the chart's label says what it shows.
 */
export function columnChart(label: string, bars: Bar[], options: { height?: number; testId?: string } = {}): Html {
  if (bars.length === 0) return html`<p class="muted">${label}: nothing in this period.</p>`;
  const height = options.height ?? 140;
  const width = Math.max(320, bars.length * 22 + 40);
  const max = Decimal.max(...bars.map((b) => new Decimal(b.value)));
  const column = (width - 40) / bars.length;
  return html`<figure><svg role="img" aria-label="${label}" width="${width}" height="${height + 34}" viewBox="0 0 ${width} ${height + 34}"${options.testId ? html` data-test="${options.testId}"` : ''}>
<line x1="30" y1="${height}" x2="${width - 5}" y2="${height}" stroke="#5d6675"></line>
<text x="0" y="12" font-size="11">${bars.find((b) => new Decimal(b.value).eq(max))?.text ?? ''}</text>
${bars.map((b, i) => {
  const h = scale(b.value, max, height - 20);
  const x = 32 + i * column;
  return html`<rect x="${x.toFixed(1)}" y="${height - h}" width="${Math.max(2, column - 4).toFixed(1)}" height="${h}" fill="${b.alert ? RED : BLUE}" data-value="${new Decimal(b.value).toString()}"><title>${b.label}: ${b.text}</title></rect>
${i % Math.ceil(bars.length / 10) === 0 ? html`<text x="${x.toFixed(1)}" y="${height + 14}" font-size="10">${b.label.slice(5)}</text>` : ''}`;
})}
</svg><figcaption class="muted">${label}</figcaption></figure>`;
}

/** Rows of horizontal bars with their labels and values (lag per group, collection rate per brand). */
export function rowChart(label: string, bars: Bar[], options: { max?: Decimal.Value } = {}): Html {
  if (bars.length === 0) return html``;
  const rowHeight = 18;
  const max = options.max !== undefined ? new Decimal(options.max) : Decimal.max(1, ...bars.map((b) => new Decimal(b.value)));
  return html`<svg role="img" aria-label="${label}" width="640" height="${bars.length * rowHeight + 4}" viewBox="0 0 640 ${bars.length * rowHeight + 4}">
${bars.map((b, i) => {
  const w = scale(b.value, max, 330);
  return html`<text x="0" y="${i * rowHeight + 13}" font-size="12">${b.label}</text><rect x="260" y="${i * rowHeight + 3}" width="${Math.max(1, w)}" height="12" fill="${b.alert ? RED : BLUE}"><title>${b.label}: ${b.text}</title></rect><text x="${265 + w}" y="${i * rowHeight + 13}" font-size="12">${b.text}</text>`;
})}
</svg>`;
}
