// Runs an entry script the way make does; the one implementation is scripts/lib/child-script.ts.
export { runEntryScript, type ScriptResult } from '../../scripts/lib/child-script.js';
