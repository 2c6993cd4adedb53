import { keystrokes } from '@waydesk/protocol/us-keys';
import type { Logger } from './log.js';
import type { CompositorSession } from './session.js';

/** What the README's first command shows: a live desktop, and how to look at it. */
export function runDemo(session: CompositorSession, runtimeDir: string, log: Logger): void {
  const env = `XDG_RUNTIME_DIR=${runtimeDir} WAYLAND_DISPLAY=${session.core.socket}`;
  const banner = [
    '',
    `waydesk compositor is serving ${session.socketPath} (${session.core.outputMode().width}x${session.core.outputMode().height}, ${session.core.renderer} renderer)`,
    '',
    '  look at it:        ' + `${env} grim /tmp/waydesk.png`,
    '  start another app: ' + `${env} weston-terminal &`,
    '  list its globals:  ' + `${env} wayland-info`,
    '',
    'Stop it with Ctrl+C. To see it from a browser or a terminal, run waydesk-server --dev instead (book: streaming).',
    '',
  ].join('\n');
  process.stderr.write(banner + '\n');
  // Type a greeting once the first window is on screen, so a screenshot shows a live shell.
  const timer = setInterval(() => {
    if (session.wm.windows().length === 0) return;
    clearInterval(timer);
    setTimeout(() => {
      for (const k of keystrokes("echo 'hello from waydesk'; uname -sr\n")) session.input.key(k.code, k.pressed);
      log.info('demo: typed a greeting into the first window');
    }, 300);
  }, 100);
  timer.unref();
}
