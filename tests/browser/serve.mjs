// node tests/browser/serve.mjs SHOTS URL OUT.json: the page of `flourish serve` at URL used as a
// person would. It loads; axe-core finds no serious or critical accessibility violation; no
// script fails; the first slider of the first arm moves by keyboard (three presses of the left
// arrow) and the numbers shown are recomputed; a Monte Carlo run of 40 replications adds bands
// and the probability of a saving; two what-ifs are saved and compared; the downloads work,
// the what-if as a new arm among them (by keyboard).
// What the page showed after the slider move (the slider's key path and value, and each
// number's data-value) goes to OUT.json, which tests/serve_check.py compares with
// `flourish expect --set`. Screenshots go into SHOTS (none when "-"). Exit 77 when it cannot
// run (browser.mjs).
import { writeFileSync } from 'node:fs';
import { accessibilityViolations, check, finish, launch } from './browser.mjs';

const [shots, url, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node tests/browser/serve.mjs SHOTS|- URL OUT.json');
  process.exit(2);
}
const shot = async (page, name) => {
  if (shots !== '-') await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};
// The numbers shown in the result cards, by their test id.
const shown = (page) => page.evaluate(() => Object.fromEntries(
  [...document.querySelectorAll('[data-testid]')].map((e) => [e.dataset.testid, e.dataset.value])));
const waitSeq = (page, after) => page.waitForFunction(
  (n) => Number(document.body.dataset.seq || 0) > n, { timeout: 20000 }, after);

const browser = await launch();
const result = {};
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.setViewport({ width: 1400, height: 1000 });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => document.body.dataset.ready === '1', { timeout: 20000 });
  const info = await page.evaluate(() => ({
    sliders: document.querySelectorAll('#params input[type=range]').length,
    labelled: [...document.querySelectorAll('#params input, #params select')]
      .filter((e) => e.labels.length || e.getAttribute('aria-label')).length,
    inputs: document.querySelectorAll('#params input, #params select').length,
    figures: document.querySelectorAll('#charts figure').length,
    wide: document.documentElement.scrollWidth,
  }));
  console.log(`page: ${info.sliders} sliders, ${info.figures} charts, ${info.wide} px wide`);
  check(info.sliders >= 3, `expected sliders made from the scenario, found ${info.sliders}`);
  check(info.labelled === info.inputs, 'an input without a label');
  check(info.figures === 4, `expected 4 charts, found ${info.figures}`);
  check(info.wide <= 1400, `the page scrolls sideways (${info.wide} px)`);
  result.initial = await shown(page);
  const violations = await accessibilityViolations(page);
  for (const v of violations) console.log(`${v.impact}: ${v.id}: ${v.help}: ${v.nodes.slice(0, 3).join(', ')}`);
  check(violations.length === 0, `${violations.length} serious or critical accessibility violations`);
  await shot(page, 'serve-1-load');

  // The first slider, by keyboard.
  const slider = await page.$('#params input[type=range]');
  const path = await page.evaluate((e) => e.closest('.param').dataset.path, slider);
  const before = Number(await page.evaluate((e) => e.value, slider));
  const seq = Number(await page.evaluate(() => document.body.dataset.seq));
  await slider.focus();
  const t0 = Date.now();
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowLeft');
  // Settled: the answer shown is the one for the slider's value, and nothing is pending.
  await waitSeq(page, seq);
  const value = await page.evaluate((e) => e.value, slider);
  await page.waitForFunction((p, v) => document.body.dataset.pending === '0' &&
                               JSON.parse(document.body.dataset.resultSets || '{}')[p] === Number(v),
                             { timeout: 60000 }, path, value);
  const settle = Date.now() - t0;
  result.path = path;
  result.value = value;
  result.after = await shown(page);
  result.expect_ms = Number(await page.evaluate(() => document.body.dataset.expectMs));
  result.server_ms = Number(await page.evaluate(() => document.body.dataset.serverMs));
  console.log(`slider ${path}: ${before} -> ${value}; last expect ${result.expect_ms.toFixed(0)} ms in the ` +
              `browser (${result.server_ms.toFixed(0)} ms on the server), three key presses settled in ${settle} ms`);
  check(Number(value) < before, 'the slider did not move');
  check(JSON.stringify(result.after) !== JSON.stringify(result.initial), 'the numbers did not change');
  await shot(page, 'serve-2-slider');

  // Monte Carlo.
  await page.$eval('#reps', (e) => { e.value = '40'; });
  await page.$eval('#seed', (e) => { e.value = '7'; });
  await page.click('#mc');
  await page.waitForFunction(() => document.querySelectorAll('#charts path.band').length > 0,
                             { timeout: 120000 });
  const mc = await page.evaluate(() => ({
    bands: document.querySelectorAll('#charts path.band').length,
    psave: document.querySelectorAll('#psave td').length,
  }));
  result.mc = await shown(page);
  result.mc_ms = Number(await page.evaluate(() => document.body.dataset.mcMs));
  console.log(`Monte Carlo: ${mc.bands} bands, ${mc.psave} probabilities, ${result.mc_ms.toFixed(0)} ms`);
  check(mc.bands >= 2, 'no Monte Carlo bands');
  check(mc.psave > 0, 'no probability of a saving');
  await shot(page, 'serve-3-montecarlo');

  // Cancelling a long run.
  await page.$eval('#reps', (e) => { e.value = '5000'; });
  await page.click('#mc');
  await page.waitForFunction(() => !document.querySelector('#cancel').disabled, { timeout: 10000 });
  await new Promise((r) => setTimeout(r, 700));
  await page.click('#cancel');
  await page.waitForFunction(() => /cancelled/.test(document.querySelector('#mcstatus').textContent),
                             { timeout: 60000 });
  check(true, 'a run was cancelled');

  // Two saved what-ifs compared: this one, and the scenario as given.
  await page.click('#save');
  const seq2 = Number(await page.evaluate(() => document.body.dataset.seq));
  await page.click('#reset');
  await waitSeq(page, seq2);
  await page.waitForFunction(() => document.body.dataset.pending === '0' &&
                               document.body.dataset.resultSets === '{}', { timeout: 60000 });
  await page.click('#save');
  const cmp = await page.evaluate(() => ({
    cols: document.querySelectorAll('#compare thead th').length,
    chart: document.querySelectorAll('#compare-chart svg[role=img]').length,
  }));
  check(cmp.cols === 3, `the comparison has ${cmp.cols - 1} what-ifs, expected 2`);
  check(cmp.chart === 1, 'no comparison chart');
  const compareBox = await page.$('#compare-h');
  await compareBox.scrollIntoView();
  await shot(page, 'serve-4-compare');
  const violations2 = await accessibilityViolations(page);
  for (const v of violations2) console.log(`${v.impact}: ${v.id}: ${v.help}: ${v.nodes.slice(0, 3).join(', ')}`);
  check(violations2.length === 0, `${violations2.length} serious or critical accessibility violations with results shown`);

  // The downloads, fetched as the page fetches them.
  const yaml = await page.evaluate(async (p, v) => {
    const token = new URLSearchParams(location.search).get('token');
    const r = await fetch('/api/yaml', { method: 'POST', headers: { 'X-Flourish-Token': token },
                                         body: JSON.stringify({ set: { [p]: Number(v) } }) });
    return r.text();
  }, path, value);
  result.yaml = yaml;
  check(yaml.includes(`${path.split('.').at(-1)}: ${Number(value)}`), 'the YAML has the changed value');
  // The what-if as a new arm: the control, by keyboard, for the arm shown (the slider's).
  const arm = path.split('.')[1];
  await page.evaluate((a, p, v) => {
    const num = document.querySelector(`.param[data-path="${p}"] input[type=number]`);
    num.value = v;
    num.dispatchEvent(new Event('change'));
    const f = document.getElementById('focus');
    f.value = String([...f.options].findIndex((o) => o.textContent === label('arm', a)));
    f.dispatchEvent(new Event('change'));
    window.download = (name, type, text) => { window.gotDownload = { name, text }; };
  }, arm, path, value);
  const control = await page.evaluate(() => ({
    disabled: document.getElementById('newarm').disabled,
    name: document.getElementById('newarm-name').value,
    labelled: document.getElementById('newarm-name').labels.length,
  }));
  check(!control.disabled && control.name === `${arm}_whatif` && control.labelled === 1,
        `the new-arm control for ${arm}: ${JSON.stringify(control)}`);
  await page.focus('#newarm');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => window.gotDownload, { timeout: 20000 });
  const got = await page.evaluate(() => window.gotDownload);
  check(got.name === `whatif-${arm}_whatif.yaml` && got.text.includes(`\n  ${arm}_whatif:`) &&
        got.text.includes(`${path.split('.').at(-1)}: ${Number(value)}`),
        `the new arm downloaded: ${got.name}`);
  // A value of another arm changed too: the control is off, and says why.
  const off = await page.evaluate((a) => {
    const other = [...document.querySelectorAll('.param[data-path^="arms."]')]
      .find((d) => !d.dataset.path.startsWith(`arms.${a}.`) && d.querySelector('input[type=number]'));
    const num = other.querySelector('input[type=number]');
    num.value = String(Number(num.value) + 1);
    num.dispatchEvent(new Event('change'));
    return { disabled: document.getElementById('newarm').disabled,
             hint: document.getElementById('newarm-hint').textContent, path: other.dataset.path };
  }, arm);
  check(off.disabled && off.hint.includes(off.path), `the new-arm control with ${off.path} changed: ${off.hint}`);
  const csv = await page.evaluate(() => csvTables());
  check(csv.split('\n').length > 100, 'the CSV has the tables');
  const figs = await page.evaluate(() => figuresPage());
  check((figs.match(/<svg /g) || []).length >= 10 && !/https?:\/\/(?!www\.w3\.org\/2000\/svg)/.test(figs),
        'the figures page has the charts and refers to nothing outside');
  check(errors.length === 0, `script errors: ${errors.join('; ')}`);
  writeFileSync(out, JSON.stringify(result));
} finally {
  await browser.close();
}
finish('serve_browser');
