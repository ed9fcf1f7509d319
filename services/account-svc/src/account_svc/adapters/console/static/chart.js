// Line charts over time with uPlot (vendored: uplot.js, uplot.css, uplot-license.txt; see the
// service README, "Charts"), loaded on first use so the other screens never fetch it. Each
// chart sits in a <figure> with a caption; the canvas is hidden from screen readers because the
// same numbers are in a table next to it.

import {h} from './dom.js';

let loading = null;

/** uPlot, loaded once (a classic script that defines window.uPlot). */
export function loadUplot() {
  if (window.uPlot) return Promise.resolve(window.uPlot);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const css = h('link', {rel: 'stylesheet', href: '/console/static/uplot.css'});
      const script = h('script', {src: '/console/static/uplot.js'});
      script.addEventListener('load', () => resolve(window.uPlot));
      script.addEventListener('error', () => {
        loading = null;
        reject(new Error('The chart library could not be loaded.'));
      });
      document.head.append(css, script);
    });
  }
  return loading;
}

// Colours the console uses elsewhere, each with its own dash so lines differ without colour.
export const STATUS_SERIES = [
  {key: 'sent', label: 'Sent', stroke: '#1f5fbf', dash: []},
  {key: 'delivered', label: 'Delivered', stroke: '#1b6e3a', dash: [8, 4]},
  {key: 'read', label: 'Read', stroke: '#6b3fa0', dash: [2, 3]},
  {key: 'failed', label: 'Failed', stroke: '#b3261e', dash: [10, 3, 2, 3]},
  {key: 'fallback', label: 'Fell back', stroke: '#8a5a00', dash: [4, 4]},
];
export const CHANNEL_SERIES = [
  {key: 'sms', label: 'SMS', stroke: '#1f5fbf', dash: []},
  {key: 'rcs', label: 'RCS', stroke: '#0f7b7b', dash: [8, 4]},
  {key: 'whatsapp', label: 'WhatsApp', stroke: '#1b6e3a', dash: [2, 3]},
  {key: 'truecaller', label: 'Truecaller', stroke: '#8a5a00', dash: [10, 3, 2, 3]},
];

/** Seconds since the epoch of a `YYYY-MM-DDTHH:MM` minute (UTC). */
export function minuteSeconds(minute) {
  return Date.parse(`${minute}:00Z`) / 1000;
}

/**
 * A line chart of per-minute counts: `chart.update(minutes, values)` redraws it, where values
 * maps each series key to one number per minute. The figure's `data-total` is the sum drawn.
 */
export function lineChart({title, series, id}) {
  const plotArea = h('div', {class: 'chart-plot', 'aria-hidden': 'true'});
  const figure = h('figure', {class: 'chart', id, 'data-total': '0'},
    h('figcaption', {}, title), plotArea);
  let plot = null;
  let observer = null;

  const data = (minutes, values) => [
    minutes.map(minuteSeconds),
    ...series.map((s) => values[s.key] ?? minutes.map(() => 0)),
  ];
  const width = () => Math.max(280, Math.floor(plotArea.getBoundingClientRect().width || 600));

  async function update(minutes, values) {
    const uPlot = await loadUplot();
    const rows = data(minutes, values);
    const total = rows.slice(1).flat().reduce((a, b) => a + b, 0);
    figure.dataset.total = String(total);
    if (plot) {
      plot.setData(rows);
      return;
    }
    let drawnWidth = width();
    plot = new uPlot({
      width: drawnWidth,
      height: 220,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'), // the cursor's time
      scales: {y: {range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.15))]}},
      axes: [{stroke: '#5b6475', grid: {stroke: '#e4e7ec'}, values: (u, splits) => splits.map(
        (s) => new Date(s * 1000).toISOString().slice(11, 16))},
      {stroke: '#5b6475', grid: {stroke: '#e4e7ec'}, size: 48}],
      series: [{label: 'Minute (UTC)'}, ...series.map((s) => ({
        label: s.label, stroke: s.stroke, dash: s.dash, width: 2, points: {show: false},
      }))],
      legend: {live: false},
      cursor: {drag: {x: false, y: false}},
    }, rows, plotArea);
    observer = new ResizeObserver(() => { // redraw only when the width really changed
      const now = width();
      if (now === drawnWidth) return;
      drawnWidth = now;
      plot.setSize({width: now, height: 220});
    });
    observer.observe(plotArea);
  }

  function destroy() {
    observer?.disconnect();
    plot?.destroy();
    plot = null;
  }

  return {figure, update, destroy};
}
