import type { DatabaseService } from '@backstage/backend-plugin-api';
import type { CertificateSource } from '@internal/plugin-kube-delivery-common';
import type { Knex } from 'knex';
import { migratedClient } from '../database/migrate';
import { uuidv7 } from '../database/uuidv7';

/** One upload or switch to cert-manager: public facts only, never the key. */
export interface CertificateRecord {
  id: string;
  environment: string;
  /** `<namespace>/<name>` */
  gateway: string;
  source: CertificateSource;
  secretName: string;
  hosts: string[];
  subject?: string;
  sans: string[];
  issuer?: string;
  serial?: string;
  /** ISO 8601 */
  notBefore?: string;
  /** ISO 8601 */
  notAfter?: string;
  fingerprintSha256?: string;
  keyDescription?: string;
  warnings: string[];
  uploadedBy: string;
  /** ISO 8601 */
  uploadedAt: string;
  /** ISO 8601; when the scheduled check flagged it as expiring. */
  expiryFlaggedAt?: string;
}

export type NewCertificateRecord = Omit<
  CertificateRecord,
  'id' | 'uploadedAt' | 'expiryFlaggedAt'
>;

/** Persistence of gateway certificate metadata. */
export interface CertificateStore {
  add(record: NewCertificateRecord): Promise<CertificateRecord>;
  /** An environment's records, newest first; the first is the active one. */
  list(environment: string, limit: number): Promise<CertificateRecord[]>;
  /** The newest record of the environment. */
  active(environment: string): Promise<CertificateRecord | undefined>;
  /** Marks a record as flagged; false when it already was (another replica got there first). */
  markExpiryFlagged(id: string, at: Date): Promise<boolean>;
}

type Row = {
  id: string;
  environment: string;
  gateway: string;
  source: CertificateSource;
  secret_name: string;
  hosts: string;
  subject: string | null;
  sans: string;
  issuer: string | null;
  serial: string | null;
  not_before: number | string | null;
  not_after: number | string | null;
  fingerprint_sha256: string | null;
  key_description: string | null;
  warnings: string;
  uploaded_by: string;
  uploaded_at: number | string;
  expiry_flagged_at: number | string | null;
};

const TABLE = 'kd_gateway_certificates';

function iso(ms: number | string | null): string | undefined {
  return ms === null ? undefined : new Date(Number(ms)).toISOString();
}

function epoch(value: string | undefined): number | null {
  return value === undefined ? null : Date.parse(value);
}

function toRecord(row: Row): CertificateRecord {
  const optional = {
    subject: row.subject ?? undefined,
    issuer: row.issuer ?? undefined,
    serial: row.serial ?? undefined,
    notBefore: iso(row.not_before),
    notAfter: iso(row.not_after),
    fingerprintSha256: row.fingerprint_sha256 ?? undefined,
    keyDescription: row.key_description ?? undefined,
    expiryFlaggedAt: iso(row.expiry_flagged_at),
  };
  return {
    id: row.id,
    environment: row.environment,
    gateway: row.gateway,
    source: row.source,
    secretName: row.secret_name,
    hosts: JSON.parse(row.hosts),
    sans: JSON.parse(row.sans),
    warnings: JSON.parse(row.warnings),
    uploadedBy: row.uploaded_by,
    uploadedAt: iso(row.uploaded_at)!,
    ...(Object.fromEntries(
      Object.entries(optional).filter(([, v]) => v !== undefined),
    ) as Partial<CertificateRecord>),
  };
}

/** Knex implementation of {@link CertificateStore}, for SQLite and PostgreSQL. */
export class DatabaseCertificateStore implements CertificateStore {
  static async create(options: {
    database: DatabaseService;
  }): Promise<DatabaseCertificateStore> {
    return new DatabaseCertificateStore(await migratedClient(options.database));
  }

  constructor(private readonly db: Knex) {}

  async add(record: NewCertificateRecord) {
    const now = Date.now();
    const row: Row = {
      id: uuidv7(now),
      environment: record.environment,
      gateway: record.gateway,
      source: record.source,
      secret_name: record.secretName,
      hosts: JSON.stringify(record.hosts),
      subject: record.subject ?? null,
      sans: JSON.stringify(record.sans),
      issuer: record.issuer ?? null,
      serial: record.serial ?? null,
      not_before: epoch(record.notBefore),
      not_after: epoch(record.notAfter),
      fingerprint_sha256: record.fingerprintSha256 ?? null,
      key_description: record.keyDescription ?? null,
      warnings: JSON.stringify(record.warnings),
      uploaded_by: record.uploadedBy,
      uploaded_at: now,
      expiry_flagged_at: null,
    };
    await this.db<Row>(TABLE).insert(row);
    return toRecord(row);
  }

  async list(environment: string, limit: number) {
    const rows = await this.db<Row>(TABLE)
      .where({ environment })
      .orderBy([
        { column: 'uploaded_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(limit);
    return rows.map(toRecord);
  }

  async active(environment: string) {
    const [record] = await this.list(environment, 1);
    return record;
  }

  async markExpiryFlagged(id: string, at: Date) {
    const updated = await this.db<Row>(TABLE)
      .where({ id })
      .whereNull('expiry_flagged_at')
      .update({ expiry_flagged_at: at.getTime() });
    return updated === 1;
  }
}
