import { z } from 'zod';

export const SLUG_PATTERN = /^[a-z0-9]+(-[a-z0-9]+)*$/;

export const slugSchema = z
  .string()
  .max(64, { error: 'must be at most 64 characters' })
  .regex(SLUG_PATTERN, { error: 'must be lowercase letters, digits and single hyphens' });

export const slugParamsSchema = z.object({ slug: slugSchema });

const booleanQuery = z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true');

export const listChannelsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
  category: z.string().min(1).max(50).optional(),
  country: z
    .string()
    .regex(/^[A-Za-z]{2}$/, { error: 'must be a two-letter country code' })
    .transform((c) => c.toUpperCase())
    .optional(),
  active: booleanQuery.optional(),
});
export type ListChannelsQuery = z.output<typeof listChannelsQuerySchema>;

const channelFields = {
  name: z.string().trim().min(1).max(200),
  category: z.string().trim().min(1).max(50),
  country: z
    .string()
    .regex(/^[A-Za-z]{2}$/, { error: 'must be a two-letter country code' })
    .transform((c) => c.toUpperCase()),
  position: z.number().int().min(0).max(100_000),
  active: z.boolean(),
};

export const createChannelSchema = z.strictObject({
  slug: slugSchema,
  ...channelFields,
  active: channelFields.active.default(true),
});
export type CreateChannel = z.output<typeof createChannelSchema>;

export const updateChannelSchema = z
  .strictObject({
    name: channelFields.name.optional(),
    category: channelFields.category.optional(),
    country: channelFields.country.optional(),
    position: channelFields.position.optional(),
    active: channelFields.active.optional(),
  })
  .refine((v) => Object.keys(v).length > 0, { error: 'at least one field is required' });
export type UpdateChannel = z.output<typeof updateChannelSchema>;

export interface ChannelRow {
  id: string;
  slug: string;
  name: string;
  category: string;
  country: string;
  position: number;
  logo_key: string | null;
  active: boolean;
  updated_at: Date;
}

export interface ChannelView {
  slug: string;
  name: string;
  category: string;
  country: string;
  position: number;
  active: boolean;
  logo_url: string | null;
  updated_at: string;
}
