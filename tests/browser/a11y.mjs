// node tests/browser/a11y.mjs FILE.html [SCREENSHOT.png]: loads a page from a file as a user's
// browser would, fails (exit 1) on any serious or critical accessibility violation axe-core
// finds, and saves a full-page screenshot when asked. Exit 77 when it cannot run (browser.mjs).
import { pathToFileURL } from 'node:url';
import { accessibilityViolations, check, finish, launch } from './browser.mjs';

const [file, shot] = process.argv.slice(2);
if (!file) {
  console.error('usage: node tests/browser/a11y.mjs FILE.html [SCREENSHOT.png]');
  process.exit(2);
}
const browser = await launch();
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.setViewport({ width: 1280, height: 900 });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  check(errors.length === 0, `script errors on the page: ${errors.join('; ')}`);
  const violations = await accessibilityViolations(page);
  for (const v of violations)
    console.log(`${v.impact}: ${v.id}: ${v.help}: ${v.nodes.slice(0, 3).join(', ')}`);
  check(violations.length === 0, `${violations.length} serious or critical accessibility violations`);
  if (shot) await page.screenshot({ path: shot, fullPage: true });
} finally {
  await browser.close();
}
finish('a11y');
