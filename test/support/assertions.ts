// Assertions shared by the suites, for the shapes a plain chai call gets wrong.
import { expect } from 'chai';

/**
 * `items` is not empty and every item satisfies `predicate` (a bare `every()` passes on an
 * empty list). The failure names the items that do not match.
 */
export function expectEvery<T>(items: readonly T[], predicate: (item: T) => boolean, what: string): void {
  expect(items, `${what}: the list is empty`).to.not.be.empty;
  expect(
    items.filter((item) => !predicate(item)),
    `${what}: these do not match`,
  ).to.deep.equal([]);
}
