import type { AuditorService } from '@backstage/backend-plugin-api';
import type { JsonObject } from '@backstage/types';
import type express from 'express';

/** One audited change: its event, request and the metadata logged at its start. */
export interface AuditedChange<T> {
  request: express.Request;
  eventId: string;
  meta: JsonObject;
  /** Defaults to 'medium'. */
  severityLevel?: 'low' | 'medium' | 'high' | 'critical';
  /** Metadata added on success, from the result; none when absent. */
  successMeta?: (result: T) => JsonObject;
}

/** Runs a change inside an auditor event, recording its success or failure. */
export async function runAudited<T>(
  auditor: AuditorService,
  change: AuditedChange<T>,
  run: () => Promise<T>,
): Promise<T> {
  const event = await auditor.createEvent({
    eventId: change.eventId,
    severityLevel: change.severityLevel ?? 'medium',
    request: change.request,
    meta: change.meta,
  });
  try {
    const result = await run();
    if (change.successMeta) {
      await event.success({ meta: change.successMeta(result) });
    } else {
      await event.success();
    }
    return result;
  } catch (error) {
    await event.fail({ error: error as Error });
    throw error;
  }
}
