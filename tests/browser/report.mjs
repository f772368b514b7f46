// node tests/browser/report.mjs SHOTS MIN_FIGURES FILE.html ...: loads each report from its file
// as a user's browser would and checks that every figure rendered (each inline SVG has a box of
// non-zero size, and there are at least MIN_FIGURES), that no script failed, that axe-core finds
// no serious or critical accessibility violation, that the page does not scroll sideways at a
// 1280-pixel window, and that under the print stylesheet the contents list is hidden and every
// figure still fits the page. A full-page screenshot of each goes into the directory SHOTS
// (none when SHOTS is "-"). Exit 77 when it cannot run (browser.mjs).
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { accessibilityViolations, check, finish, launch } from './browser.mjs';

const [shots, minFigures, ...files] = process.argv.slice(2);
if (!files.length) {
  console.error('usage: node tests/browser/report.mjs SHOTS|- MIN_FIGURES FILE.html ...');
  process.exit(2);
}
const browser = await launch();
try {
  for (const file of files) {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.setViewport({ width: 1280, height: 900 });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    const name = basename(file);
    const figures = await page.evaluate(() => ({
      total: Number(document.body.dataset.figures),
      rendered: Number(document.body.dataset.figuresLoaded),
      labelled: [...document.querySelectorAll('figure svg[role=img]')]
        .filter((s) => (s.getAttribute('aria-label') || '').split(' ').length >= 12).length,
      captions: document.querySelectorAll('figure > figcaption').length,
      wide: document.documentElement.scrollWidth,
    }));
    console.log(`${name}: ${figures.rendered} of ${figures.total} figures rendered, ` +
                `${figures.labelled} with alt text of 12 words or more, page ${figures.wide} px wide`);
    check(figures.total >= Number(minFigures), `${name}: ${figures.total} figures, expected ${minFigures}`);
    check(figures.rendered === figures.total, `${name}: ${figures.total - figures.rendered} figures did not render`);
    check(figures.labelled === figures.total, `${name}: a figure without alt text of 12 words`);
    check(figures.captions === figures.total, `${name}: a figure without its caption`);
    check(figures.wide <= 1280, `${name}: the page scrolls sideways (${figures.wide} px)`);
    check(errors.length === 0, `${name}: script errors: ${errors.join('; ')}`);
    const violations = await accessibilityViolations(page);
    for (const v of violations)
      console.log(`${name}: ${v.impact}: ${v.id}: ${v.help}: ${v.nodes.slice(0, 3).join(', ')}`);
    check(violations.length === 0, `${name}: ${violations.length} serious or critical accessibility violations`);
    if (shots !== '-') await page.screenshot({ path: `${shots}/${name.replace(/\.html$/, '')}.png`, fullPage: true });
    await page.emulateMediaType('print');
    const print = await page.evaluate(() => ({
      nav: getComputedStyle(document.querySelector('nav')).display,
      widest: Math.max(...[...document.querySelectorAll('svg.chart')].map((s) => s.getBoundingClientRect().width)),
      body: document.body.getBoundingClientRect().width,
    }));
    check(print.nav === 'none', `${name}: the contents list is printed`);
    check(print.widest <= print.body + 1, `${name}: a figure is wider than the printed page`);
    await page.close();
  }
} finally {
  await browser.close();
}
finish('report_browser');
