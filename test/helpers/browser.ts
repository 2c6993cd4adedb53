import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium, headless, talking to nothing but the loopback server under test. */
export async function launchChromium(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  // playwright gives every launch a fresh, empty profile of its own
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // the dev server's certificate is self-signed; a user checks its fingerprint instead
      '--ignore-certificate-errors',
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close();
    },
  };
}
