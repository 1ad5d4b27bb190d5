// One real stack per suite: started in before(), stopped in after() even when tests fail.
import { startServices, type Stack, type StackOptions } from '../../scripts/lib/services/index.js';

export function useServices(names: string[], opts: StackOptions = {}): () => Stack {
  let stack: Stack | undefined;
  before(async function () {
    this.timeout(90_000);
    stack = await startServices(names, opts);
  });
  after(async function () {
    this.timeout(60_000);
    await stack?.stopAll();
  });
  return () => {
    if (!stack) throw new Error('services are not started (useServices must be called inside describe())');
    return stack;
  };
}
