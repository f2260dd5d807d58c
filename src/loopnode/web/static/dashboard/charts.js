// Small SVG charts (no library): labelled bars and a line, each with a text alternative.
const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

let counter = 0;

function frame(title, width, height) {
  counter += 1;
  const id = `chart-${counter}`;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `${id}-t`, class: "svg-chart" });
  root.append(svg("title", { id: `${id}-t` }, title));
  return root;
}

/** Horizontal bars: items [{label, value, text?}]. */
export function barChart(container, items, title) {
  const width = 420;
  const row = 28;
  const height = Math.max(row * items.length + 10, 40);
  const root = frame(title, width, height);
  const max = Math.max(...items.map((i) => Math.abs(i.value)), 1e-9);
  items.forEach((item, index) => {
    const y = index * row + 5;
    const length = Math.max((Math.abs(item.value) / max) * 220, 1);
    root.append(svg("text", { x: 0, y: y + 17, class: "chart-label" }, item.label));
    root.append(svg("rect", { x: 130, y, width: length, height: row - 8, class: "chart-bar" }));
    root.append(svg("text", { x: 136 + length, y: y + 17, class: "chart-value" }, item.text ?? String(item.value)));
  });
  container.replaceChildren(root);
  return root;
}

/** A line through points [{label, value}] with the first and last labels on the axis. */
export function lineChart(container, points, title) {
  const width = 420;
  const height = 180;
  const pad = 36;
  const root = frame(title, width, height);
  const values = points.map((p) => p.value);
  const top = Math.max(...values, 0); // the largest value, labelled on the chart
  const max = Math.max(top, 1e-9); // keeps the scale finite when every value is 0
  const min = Math.min(...values, 0);
  const x = (i) => pad + (i * (width - 2 * pad)) / Math.max(points.length - 1, 1);
  const y = (v) => height - pad - ((v - min) / (max - min || 1)) * (height - 2 * pad);
  root.append(svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "chart-axis" }));
  root.append(svg("polyline", { points: points.map((p, i) => `${x(i)},${y(p.value)}`).join(" "), class: "chart-line" }));
  points.forEach((p, i) => root.append(svg("circle", { cx: x(i), cy: y(p.value), r: 3, class: "chart-dot" })));
  if (points.length) {
    root.append(svg("text", { x: pad, y: height - 12, class: "chart-label" }, points[0].label));
    root.append(svg("text", { x: width - pad, y: height - 12, "text-anchor": "end", class: "chart-label" }, points.at(-1).label));
    root.append(svg("text", { x: 2, y: y(top) + 4, class: "chart-label" }, String(top)));
  }
  container.replaceChildren(root);
  return root;
}
