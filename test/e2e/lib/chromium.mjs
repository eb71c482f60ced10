// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, with a phone-sized
// context. If the package is still being installed, waits (bounded) for the installer to finish.
import { access, readFile } from "node:fs/promises";
import { chromium } from "playwright-core";
import { sleep } from "./util.mjs";

export const CHROMIUM_PATH = "/usr/bin/chromium";
const APT_LOG = "/tmp/apt.log";

export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const exists = (path) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Wait until /usr/bin/chromium exists, or the apt log says `done` without it, or the deadline. */
async function waitForChromium(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await exists(CHROMIUM_PATH)) return;
    const log = await readFile(APT_LOG, "utf8").catch(() => "");
    if (/\bdone\b/.test(log)) break;
    await sleep(1_000);
  }
  if (!(await exists(CHROMIUM_PATH))) throw new Error(`${CHROMIUM_PATH} is missing (apt log: ${APT_LOG})`);
}

/** Launch the browser; the caller closes it. */
export async function launchChromium({ installTimeoutMs = 120_000 } = {}) {
  await waitForChromium(installTimeoutMs);
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ARGS, timeout: 30_000 });
}
