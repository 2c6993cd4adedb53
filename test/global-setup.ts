// Runs once around the whole suite: the unprivileged user the desktops run as, made and removed here.
import { ensureTestUser, removeTestUser } from './helpers/test-user.js';

let created = false;

export function setup(): void {
  created = ensureTestUser();
}

export function teardown(): void {
  if (created) removeTestUser();
}
