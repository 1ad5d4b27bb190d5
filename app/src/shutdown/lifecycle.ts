/** Process lifecycle shared by readiness and the drain logic. */
export class Lifecycle {
  shuttingDown = false;
  /** While draining, every response asks the client to close its keep-alive connection. */
  draining = false;
}

export const LIFECYCLE = Symbol('LIFECYCLE');
