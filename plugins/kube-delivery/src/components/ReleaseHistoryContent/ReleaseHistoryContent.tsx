import { useCallback, useEffect, useRef, useState } from 'react';
import {
  EmptyState,
  InfoCard,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { useEntity } from '@backstage/plugin-catalog-react';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Grid from '@material-ui/core/Grid';
import List from '@material-ui/core/List';
import Alert from '@material-ui/lab/Alert';
import {
  HISTORY_ENTRY_KINDS,
  kubeDeliveryRollbackPermission,
  type HistoryEntry,
  type HistoryEntryKind,
  type HistoryPage,
  type Release,
} from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryApiRef } from '../../api';
import { useDeliveryChanges } from '../../hooks/useDeliveryChanges';
import { PUSHED_POLL_EVERY, useLoad } from '../../hooks/usePolledAsync';
import { OutcomeAlert, type Outcome } from '../common/OutcomeAlert';
import { reasonOf } from '../common/format';
import { LabelledSelect } from '../common/LabelledSelect';
import { useTargetPermission } from '../common/useTargetPermission';
import { ReleaseDialog } from '../common/ReleaseDialog';
import { CompareReleases } from './CompareReleases';
import { HistoryEntryItem, KIND_WORDS } from './HistoryEntryItem';

/** Entries per page. */
export const PAGE_SIZE = 20;

/** How often the newest page is read again while a shown deployment is queued or running. */
export const HISTORY_POLL_INTERVAL_MS = 3000;

type Page = {
  entries: HistoryEntry[];
  nextCursor?: string;
  loading: boolean;
  error?: Error;
};

// One waiting for approval too: someone else may approve or reject it.
const isActive = (entry: HistoryEntry) =>
  'deployment' in entry &&
  ['waiting-approval', 'queued', 'running'].includes(entry.deployment.status);

/**
 * The shown entries with the newest page read again put in front: entries
 * it has again are replaced (a running deployment's steps move on), new ones
 * come first, older pages stay. When the newest page has none of the shown
 * entries (more than a page happened since), it starts over from it.
 */
export function withNewestPage(shown: Page, newest: HistoryPage): Page {
  const ids = new Set(newest.items.map(e => e.id));
  if (!shown.entries.some(e => ids.has(e.id))) {
    return {
      entries: newest.items,
      nextCursor: newest.nextCursor,
      loading: false,
    };
  }
  return {
    ...shown,
    entries: [...newest.items, ...shown.entries.filter(e => !ids.has(e.id))],
  };
}

/**
 * The Release history tab: one timeline of the service's deployments,
 * rollbacks, promotions, route and certificate changes, filterable by
 * environment and kind, paged, with steps, redeploys and a release diff.
 */
export const ReleaseHistoryContent = () => {
  const { entity } = useEntity();
  const entityRef = stringifyEntityRef(entity);
  const api = useApi(kubeDeliveryApiRef);
  const [environment, setEnvironment] = useState('');
  const [kind, setKind] = useState<HistoryEntryKind | ''>('');
  const [page, setPage] = useState<Page>({ entries: [], loading: true });
  const [redeploy, setRedeploy] = useState<{
    entry: HistoryEntry;
    currentReleaseId?: string;
  }>();
  const [outcome, setOutcome] = useState<Outcome>();
  const environments = useLoad(() => api.listEnvironments(), [api]);

  const load = useCallback(
    async (before?: string) => {
      setPage(p => ({ ...p, loading: true, error: undefined }));
      try {
        const result = await api.getHistory(entityRef, {
          environment: environment || undefined,
          kind: kind || undefined,
          limit: PAGE_SIZE,
          before,
        });
        setPage(p => ({
          entries: before ? [...p.entries, ...result.items] : result.items,
          nextCursor: result.nextCursor,
          loading: false,
        }));
      } catch (e) {
        setPage(p => ({ ...p, loading: false, error: e as Error }));
      }
    },
    [api, entityRef, environment, kind],
  );

  // A refresh that answers after the filters changed is dropped.
  const filtersLoaded = useRef(load);
  useEffect(() => {
    filtersLoaded.current = load;
    setPage({ entries: [], loading: true });
    load();
  }, [load]);

  // The newest page again, merged on top (entries moved on, new ones added).
  const refreshNewest = useCallback(async () => {
    const current = load;
    try {
      const newest = await api.getHistory(entityRef, {
        environment: environment || undefined,
        kind: kind || undefined,
        limit: PAGE_SIZE,
      });
      if (filtersLoaded.current !== current) return;
      setPage(p => (p.loading ? p : withNewestPage(p, newest)));
    } catch {
      // Shown as it was; the next poll or signal tries again.
    }
  }, [load, api, entityRef, environment, kind]);

  // Pushed by the backend (signals): a new entry or a step shows at once.
  const changes = useDeliveryChanges(entityRef);
  useEffect(() => {
    if (changes.signal) refreshNewest();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [changes.signal]);

  // Long operations show progress: while a deployment on screen is queued or
  // running, the newest page is read again until it has finished (the
  // fallback where signals do not arrive; rarer where they do).
  const running = page.entries.some(isActive);
  useEffect(() => {
    if (!running) return undefined;
    const interval = changes.available
      ? HISTORY_POLL_INTERVAL_MS * PUSHED_POLL_EVERY
      : HISTORY_POLL_INTERVAL_MS;
    const timer = setInterval(refreshNewest, interval);
    return () => clearInterval(timer);
  }, [running, refreshNewest, changes.available]);

  const startRedeploy = async (entry: HistoryEntry) => {
    setOutcome(undefined);
    // The diff is shown from what the environment runs now, if anything.
    const statuses = await api.getStatus(entityRef).catch(() => []);
    const current = statuses.find(s => s.environment === entry.environment);
    setRedeploy({ entry, currentReleaseId: current?.current?.releaseId });
  };

  const confirmRedeploy = async (release: Release) => {
    const target = redeploy!.entry.environment;
    setRedeploy(undefined);
    try {
      const deployment = await api.rollback(entityRef, {
        environment: target,
        releaseId: release.id,
      });
      setOutcome({
        severity: 'success',
        message: `Redeploy of ${deployment.version} to ${target} started; it appears here as a rollback.`,
      });
      load();
    } catch (e) {
      setOutcome({ severity: 'error', message: reasonOf(e) });
    }
  };

  const filtered = environment !== '' || kind !== '';
  let timeline: JSX.Element;
  if (page.error && page.entries.length === 0) {
    timeline = (
      <Box>
        <ResponseErrorPanel
          title="The Release history could not be read"
          error={page.error}
        />
        <Button variant="outlined" onClick={() => load()}>
          Try again
        </Button>
      </Box>
    );
  } else if (page.loading && page.entries.length === 0) {
    timeline = <Progress />;
  } else if (page.entries.length === 0) {
    timeline = filtered ? (
      <EmptyState
        missing="data"
        title="Nothing matches these filters"
        description="Choose All for environment and kind to see the whole history."
      />
    ) : (
      <EmptyState
        missing="data"
        title="No history yet"
        description="Deploy a release from the Environments tab; deployments, rollbacks, promotions, route and certificate changes appear here."
      />
    );
  } else {
    timeline = (
      <>
        <List aria-label="Release history" disablePadding>
          {page.entries.map(entry => (
            <PermittedHistoryEntryItem
              key={entry.id}
              entityRef={entityRef}
              entry={entry}
              onRedeploy={startRedeploy}
            />
          ))}
        </List>
        {page.error && (
          <Alert severity="warning">
            More entries could not be read: {reasonOf(page.error)}
          </Alert>
        )}
        {page.nextCursor && (
          <Button
            variant="outlined"
            disabled={page.loading}
            onClick={() => load(page.nextCursor)}
          >
            {page.loading ? 'Loading…' : 'Load older entries'}
          </Button>
        )}
      </>
    );
  }

  return (
    <Grid container spacing={3}>
      <Grid item xs={12} lg={8}>
        <InfoCard title="Release history">
          <Box display="flex" style={{ gap: 16 }} mb={2}>
            <LabelledSelect
              id="kd-history-environment"
              label="Environment"
              value={environment}
              options={(environments.value ?? []).map(e => ({
                value: e.name,
                label: e.name,
              }))}
              onChange={setEnvironment}
              allLabel="All"
            />
            <LabelledSelect
              id="kd-history-kind"
              label="Kind"
              value={kind}
              options={HISTORY_ENTRY_KINDS.map(k => ({
                value: k,
                label: KIND_WORDS[k].replace(/ to$/, ''),
              }))}
              onChange={v => setKind(v as HistoryEntryKind | '')}
              allLabel="All"
            />
          </Box>
          <OutcomeAlert
            outcome={outcome}
            onClose={() => setOutcome(undefined)}
            spacing={{ mb: 2 }}
          />
          {timeline}
        </InfoCard>
      </Grid>
      <Grid item xs={12} lg={4}>
        <CompareReleases entityRef={entityRef} />
      </Grid>
      {redeploy && (
        <ReleaseDialog
          open
          action="Roll back"
          entityRef={entityRef}
          environment={redeploy.entry.environment}
          currentReleaseId={redeploy.currentReleaseId}
          preselectedReleaseId={
            'deployment' in redeploy.entry
              ? redeploy.entry.deployment.releaseId
              : undefined
          }
          onClose={() => setRedeploy(undefined)}
          onConfirm={confirmRedeploy}
        />
      )}
    </Grid>
  );
};

/** An entry with Redeploy where the policy allows rolling back in its environment. */
function PermittedHistoryEntryItem(props: {
  entityRef: string;
  entry: HistoryEntry;
  onRedeploy: (entry: HistoryEntry) => void;
}) {
  const canRollback = useTargetPermission(kubeDeliveryRollbackPermission, {
    environment: props.entry.environment,
    entityRef: props.entityRef,
  });
  return (
    <HistoryEntryItem
      entry={props.entry}
      onRedeploy={canRollback ? props.onRedeploy : undefined}
    />
  );
}
