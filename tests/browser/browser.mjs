// Shared by the headless-browser tests: Debian's chromium driven by puppeteer-core, and an
// accessibility check by axe-core. Both packages are installed into tests/browser/node_modules
// from the lock file by scripts/setup-browser.sh; nothing is fetched at run time.
//
// A test that cannot run (no chromium, no node_modules) exits with status 77, which ctest
// reports as skipped; with FLOURISH_REQUIRE_BROWSER=1 (CI) it fails instead.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// Exits as skipped (77), or as failed under FLOURISH_REQUIRE_BROWSER=1, saying why.
export function skip(why) {
  const required = process.env.FLOURISH_REQUIRE_BROWSER === '1';
  console.log(`${required ? 'FAILED' : 'skipped'}: ${why}`);
  process.exit(required ? 1 : 77);
}

// The chromium to drive: $CHROMIUM, else the first of Debian's and others' usual paths.
export function chromiumPath() {
  const candidates = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser',
                      '/usr/bin/google-chrome'];
  return candidates.find((p) => p && existsSync(p));
}

// A headless browser (close it when done). Skips the test when chromium or the driver is missing.
export async function launch() {
  const executablePath = chromiumPath();
  if (!executablePath) skip('no chromium (sudo bash scripts/setup-browser.sh)');
  let puppeteer;
  try {
    puppeteer = (await import('puppeteer-core')).default;
  } catch {
    skip('no puppeteer-core in tests/browser/node_modules (bash scripts/setup-browser.sh)');
  }
  return puppeteer.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'],
  });
}

// The serious and critical accessibility violations axe-core finds on the page (WCAG 2.1 A and
// AA rules and best practices), as [{id, impact, help, nodes: [selector, ...]}].
export async function accessibilityViolations(page) {
  const source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.map((n) => n.target.join(' ')) }));
}

// Counts checks like tests/lib.sh: check(ok, what) records one, finish(name) prints the tally
// and exits 1 when any failed.
let passed = 0;
let failed = 0;
export function check(ok, what) {
  if (ok) passed++;
  else {
    failed++;
    console.log(`FAILED: ${what}`);
  }
}
export function finish(name) {
  console.log(`${name}: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
