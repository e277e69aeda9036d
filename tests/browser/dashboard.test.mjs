// The dashboard in a real browser: headless Chromium from the system's packages, driven by playwright-core
// (never a downloaded browser build), against a real `dq up` started by tests/cli/dashboard.rs.
//
//   node dashboard.test.mjs URL SCREENSHOT_DIR [TOKEN_URL]
//
// TOKEN_URL, when given, is a second `dq up` whose token is in DQ_BROWSER_TOKEN: the script logs in there.
// URL is a `dq up --workers 0` server: no run executes until this script prints `need-worker` on stdout and
// the Rust side starts a `dq worker` against it, so the run page is seen "queued" first and reaches
// dead-lettered live, without a reload. The browser is found at DQ_CHROMIUM (default /usr/bin/chromium).
// Every wait is bounded (WAIT per step, OVERALL for the whole script); the browser is closed on every path.
// Exits 0 when the scenario passed, 1 with the reason on stderr otherwise.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const WAIT = 20_000;
const OVERALL = 150_000;
const [url, shots, tokenUrl] = process.argv.slice(2);
const token = process.env.DQ_BROWSER_TOKEN;
if (!url || !shots || (tokenUrl && !token)) {
  console.error('usage: node dashboard.test.mjs URL SCREENSHOT_DIR [TOKEN_URL]');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const base = url.replace(/\/$/, '');
const watchdog = setTimeout(() => {
  console.error(`the browser test took longer than ${OVERALL / 1000}s`);
  process.exit(1);
}, OVERALL);

let current = 'start';
const step = (text) => { current = text; console.log(`· ${text}`); };
function check(condition, message) {
  if (!condition) throw new Error(message);
}

// launch() gives the browser a new, empty profile (user data dir) of its own and removes it afterwards.
const browser = await chromium.launch({
  executablePath: process.env.DQ_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
  ],
});
const problems = [];
let failed = false;
let page = null;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  const shot = async (name) => page.screenshot({ path: join(shots, `${name}.png`) });

  step('open / and go to "Start a run"');
  await page.goto(`${base}/`);
  await page.getByRole('heading', { name: 'Runs' }).waitFor();
  await page.getByRole('link', { name: 'Start a run' }).first().click();
  await page.getByRole('heading', { name: 'Start a run' }).waitFor();

  step('invalid input is refused before anything is sent');
  await page.getByLabel('Input (JSON object)').fill('[1, 2]');
  await page.getByRole('button', { name: 'Start run' }).click();
  await page.getByText('Input must be a JSON object').waitFor();
  await page.getByLabel('Input (JSON object)').fill('{"customer": 42}');

  step('choose tool_call under "Fail at" and click "Start run"');
  await page.getByLabel('Fail at').selectOption('tool_call');
  await page.getByRole('button', { name: 'Start run' }).click();
  await page.waitForURL(/\/ui\/runs\/[0-9a-f]{32}$/);
  const runId = page.url().split('/').pop();
  await page.locator('#live').getByText('live').waitFor();
  check((await page.locator('#run-status').innerText()) === 'queued', 'a run with no worker yet is queued');
  // A reload would drop this marker: what follows must arrive live.
  await page.evaluate(() => { window.stillTheSamePage = true; });

  step('a worker starts: the timeline reaches dead-lettered live');
  console.log('need-worker');
  await page.locator('#run-status').getByText('dead-lettered').waitFor();
  await page.locator('#timeline tr[data-type="run.failed"]').waitFor();
  check(await page.evaluate(() => window.stillTheSamePage === true), 'the page was reloaded');
  const attemptsFailed = await page.locator('#timeline tr[data-type="run.attempt_failed"]').count();
  check(attemptsFailed === 3, `3 failed attempts in the timeline, saw ${attemptsFailed}`);

  step('its DLQ payload says fail_at: tool_call');
  await page.getByRole('heading', { name: 'Dead-letter record' }).waitFor();
  const payload = JSON.parse(await page.locator('#dlq-payload').innerText());
  check(payload.fail_at === 'tool_call', `payload fail_at: ${JSON.stringify(payload)}`);
  check(payload.run_id === runId, 'the payload is this run\'s');
  await shot('run-dead-lettered');

  step('"Replay with fix": the replay succeeds');
  await page.getByRole('button', { name: 'Replay with fix' }).click();
  await page.getByText(/Replay 1 started with the fix/).waitFor();
  await page.locator('#run-status').getByText('succeeded').waitFor();
  await page.locator('#timeline tr[data-type="run.succeeded"]').waitFor();
  await page.getByRole('link', { name: 'Replay 1' }).waitFor();
  check(await page.evaluate(() => window.stillTheSamePage === true), 'the page was reloaded');
  await shot('run-replayed');
  // The README's picture: the same page, cut to keep the checked-in file small.
  await page.screenshot({ path: join(shots, 'readme.png'), clip: { x: 0, y: 0, width: 1280, height: 600 } });

  step('Runs: the run is listed as succeeded, and the search finds it');
  await page.getByRole('link', { name: 'Runs', exact: true }).click();
  const row = page.locator(`#runs tr[data-run="${runId}"]`);
  await row.getByText('succeeded').waitFor();
  await page.getByLabel('Search run id').fill(runId.slice(0, 8));
  await row.waitFor();
  await page.getByLabel('Search run id').fill('');
  await page.getByLabel('Status').selectOption('dead_lettered');
  await page.getByText('No runs match.').waitFor();
  check(await row.count() === 0, 'a succeeded run is not listed under dead-lettered');
  await page.getByLabel('Status').selectOption('');
  await row.waitFor();

  step('DLQ: two more dead-lettered runs, selected and replayed with the fix at once');
  const started = await page.evaluate(async () => {
    const ids = [];
    for (let i = 0; i < 2; i += 1) {
      const r = await fetch('/runs', { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fail_at: 'transform', max_attempts: 1 }) });
      ids.push((await r.json()).run_id);
    }
    return ids;
  });
  await page.locator('#runs tr[data-run] .status[data-status="dead_lettered"]').nth(1).waitFor();
  await shot('runs');
  await page.getByRole('link', { name: 'DLQ', exact: true }).click();
  for (const id of started) await page.locator(`#dlq tr[data-run="${id}"]`).waitFor();
  await shot('dlq');
  await page.getByLabel('Select all').check();
  await page.getByRole('button', { name: 'Replay 2 selected with fix' }).click();
  await page.getByText('Replayed 2 of 2 with the fix.').waitFor();
  await page.getByText('Nothing is dead-lettered.').waitFor();

  step('Demo: "Run the demo" ticks all four steps');
  await page.getByRole('link', { name: 'Demo', exact: true }).click();
  await page.getByRole('button', { name: 'Run the demo' }).click();
  await page.locator('#demo-result').getByText(/^all four steps in \d+\.\d\d s$/).waitFor({ timeout: 60_000 });
  const done = await page.locator('#demo-steps li[data-state="done"]').count();
  check(done === 4, `four steps ticked, saw ${done}`);
  console.log(`  ${await page.locator('#demo-result').innerText()}`);
  await shot('demo');

  step('phone width and dark mode');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(`${base}/`);
  await page.locator(`#runs tr[data-run="${runId}"]`).waitFor();
  const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  check(fits, 'the page is wider than a phone');
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(background === 'rgb(21, 24, 27)', `dark mode background, saw ${background}`);
  await shot('runs-phone-dark');
  await page.goto(`${base}/ui/runs/${runId}`);
  await page.locator('#run-status').getByText('succeeded').waitFor();
  check(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
    'the run page is wider than a phone');
  await shot('run-phone-dark');

  if (tokenUrl) {
    step('with a token: log in once, then the pages and their EventSource work through the session cookie');
    const tokenBase = tokenUrl.replace(/\/$/, '');
    const context2 = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page2 = await context2.newPage();
    page2.setDefaultTimeout(WAIT);
    page2.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
    page2.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    await page2.goto(`${tokenBase}/ui/start`);
    await page2.waitForURL(/\/ui\/login\?next=/);
    await page2.getByLabel('Token').fill(token);
    await page2.getByRole('button', { name: 'Log in' }).click();
    await page2.waitForURL(`${tokenBase}/ui/start`);
    await page2.getByRole('button', { name: 'Start run' }).click();
    await page2.waitForURL(/\/ui\/runs\/[0-9a-f]{32}$/);
    await page2.locator('#run-status').getByText('succeeded').waitFor();
    await page2.locator('#timeline tr[data-type="run.succeeded"]').waitFor();
    check((await page2.evaluate(() => document.cookie)) === '', 'the session cookie is HttpOnly');
    const [cookie] = await context2.cookies();
    check(cookie && cookie.httpOnly && cookie.sameSite === 'Strict' && cookie.value !== token,
      `the session cookie: ${JSON.stringify(cookie)}`);
    await context2.close();
  }

  check(problems.length === 0, `console errors:\n${problems.join('\n')}`);
  step('passed');
} catch (err) {
  failed = true;
  console.error(`browser test failed at "${current}": ${err.message}`);
  // What the page showed then, next to the other screenshots.
  if (page) await page.screenshot({ path: join(shots, 'failure.png') }).catch(() => {});
  if (problems.length) console.error(problems.join('\n'));
} finally {
  await browser.close();
  clearTimeout(watchdog);
}
process.exit(failed ? 1 : 0);
