import { z } from 'zod';

const MAX_WINDOW_MS = 7 * 24 * 3600 * 1000;

const isoDate = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with offset' });

export const scheduleQuerySchema = z
  .strictObject({ from: isoDate.optional(), to: isoDate.optional() })
  .transform((q, ctx) => {
    // Default window: from the start of the current hour, 24 h long (stable cache key for an hour).
    const hour = 3600_000;
    const from = q.from ? new Date(q.from) : new Date(Math.floor(Date.now() / hour) * hour);
    const to = q.to ? new Date(q.to) : new Date(from.getTime() + 24 * hour);
    if (to <= from) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' });
      return z.NEVER;
    }
    if (to.getTime() - from.getTime() > MAX_WINDOW_MS) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'window must be at most 7 days' });
      return z.NEVER;
    }
    return { from, to };
  });

export const nowNextQuerySchema = z.strictObject({
  at: isoDate.optional(),
  category: z.string().min(1).max(50).optional(),
});
export type NowNextQuery = z.output<typeof nowNextQuerySchema>;

const programmeItem = z
  .strictObject({
    title: z.string().trim().min(1).max(300),
    start: isoDate,
    end: isoDate,
    description: z.string().max(5000).nullish(),
    category: z.string().max(50).nullish(),
  })
  .refine((p) => new Date(p.end) > new Date(p.start), { error: 'end must be after start', path: ['end'] });

export const importProgrammesSchema = z
  .strictObject({
    programmes: z.array(programmeItem).min(1).max(10_000),
  })
  .superRefine((body, ctx) => {
    const sorted = body.programmes
      .map((p, index) => ({ index, start: Date.parse(p.start), end: Date.parse(p.end) }))
      .sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i].start < sorted[i - 1].end) {
        ctx.addIssue({
          code: 'custom',
          path: ['programmes', sorted[i].index, 'start'],
          message: `overlaps programmes[${sorted[i - 1].index}]`,
        });
        return;
      }
    }
  });
export type ImportProgrammes = z.output<typeof importProgrammesSchema>;

export interface ProgrammeRow {
  title: string;
  starts_at: Date;
  ends_at: Date;
  description: string | null;
  category: string | null;
}

export interface ProgrammeView {
  title: string;
  start: string;
  end: string;
  description: string | null;
  category: string | null;
}

export function toProgrammeView(row: ProgrammeRow): ProgrammeView {
  return {
    title: row.title,
    start: row.starts_at.toISOString(),
    end: row.ends_at.toISOString(),
    description: row.description,
    category: row.category,
  };
}
