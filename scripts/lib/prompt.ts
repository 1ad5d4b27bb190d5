// Confirmation before a production change: skipped by --yes, refused without a terminal.
import { createInterface } from 'node:readline/promises';
import { UserError } from './errors.js';

export interface ConfirmOptions {
  yes: boolean;
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
  output?: NodeJS.WritableStream;
}

export async function confirm(question: string, o: ConfirmOptions): Promise<void> {
  if (o.yes) return;
  const input = o.input ?? process.stdin;
  if (!input.isTTY) {
    throw new UserError(`refusing to go on without confirmation: ${question} (stdin is not a terminal)`, {
      hint: 'run it from a terminal, or pass --yes (YES=1) once you have read the plan',
    });
  }
  const rl = createInterface({ input, output: o.output ?? process.stderr });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') {
      throw new UserError('cancelled: nothing was changed');
    }
  } finally {
    rl.close();
  }
}
