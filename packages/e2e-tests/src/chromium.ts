import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`); KD_CHROMIUM overrides the path. */
export const CHROMIUM_PATH = process.env.KD_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Launches the system Chromium headless. playwright-core only drives it: no
 * browser is ever downloaded. A missing Chromium is an error, not a skip.
 */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}: run \`apt-get install chromium\` (.ci/run does), or point KD_CHROMIUM at a Chromium binary.`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
