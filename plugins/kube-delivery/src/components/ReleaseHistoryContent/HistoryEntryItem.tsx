import { useState } from 'react';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Chip from '@material-ui/core/Chip';
import ListItem from '@material-ui/core/ListItem';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import type {
  DeploymentStatus,
  HistoryEntry,
  HistoryEntryKind,
} from '@internal/plugin-kube-delivery-common';
import { StepList } from '../common/DeploymentSteps';
import { ApprovalActions, isWaitingForApproval } from '../ApprovalActions';
import { duration, relativeTime } from '../common/format';
import { HeadingRow } from '../common/HeadingRow';

/** What an entry records, in words. */
export const KIND_WORDS: Record<HistoryEntryKind, string> = {
  deploy: 'Deployed',
  promote: 'Promoted',
  rollback: 'Rolled back to',
  restart: 'Restarted',
  'route-changed': 'Route changed',
  'certificate-changed': 'Certificate changed',
  'promotion-refused': 'Promotion refused',
  'approval-requested': 'Approval requested',
  'approval-granted': 'Approved',
  'approval-rejected': 'Rejected',
  'approval-expired': 'Approval expired',
  'approval-bypassed': 'Approval bypassed',
};

const useStyles = makeStyles(theme => ({
  item: {
    display: 'block',
    borderLeft: `3px solid ${theme.palette.divider}`,
    marginBottom: theme.spacing(1),
  },
  succeeded: { borderLeftColor: theme.palette.success.main },
  failed: { borderLeftColor: theme.palette.error.main },
  'rolled-back': { borderLeftColor: theme.palette.warning.main },
  running: { borderLeftColor: theme.palette.info.main },
  queued: { borderLeftColor: theme.palette.info.main },
  'waiting-approval': { borderLeftColor: theme.palette.warning.main },
  rejected: { borderLeftColor: theme.palette.text.disabled },
  expired: { borderLeftColor: theme.palette.text.disabled },
}));

const STATUS_COLOR: Record<
  DeploymentStatus,
  'primary' | 'secondary' | 'default'
> = {
  succeeded: 'primary',
  failed: 'secondary',
  'rolled-back': 'secondary',
  running: 'default',
  queued: 'default',
  'waiting-approval': 'default',
  rejected: 'secondary',
  expired: 'secondary',
};

/**
 * The details of an event worth a chip: plain values and lists of them, not
 * nested records, shortened to one line.
 */
function detailChips(details: Record<string, unknown>): string[] {
  const chips: string[] = [];
  for (const [key, value] of Object.entries(details)) {
    // The entry already names its service; ids and fingerprints mean little here.
    if (/^(id|entityRef)$|Id$|^fingerprint/.test(key)) continue;
    const plain = Array.isArray(value)
      ? value.every(v => typeof v !== 'object')
      : typeof value !== 'object' || value === null;
    if (!plain) continue;
    const text = Array.isArray(value) ? value.join(', ') : String(value);
    chips.push(`${key}: ${text.length > 80 ? `${text.slice(0, 79)}…` : text}`);
  }
  return chips;
}

/** One entry of the Release history: a deployment with its steps, or an event. */
export function HistoryEntryItem(props: {
  entry: HistoryEntry;
  /** Offered on finished deployments to users who may roll back. */
  onRedeploy?: (entry: HistoryEntry) => void;
  /** Called after the user approved or rejected a deployment waiting for approval. */
  onChanged?: () => void;
}) {
  const { entry, onRedeploy, onChanged } = props;
  const classes = useStyles();
  const [expanded, setExpanded] = useState(false);
  const d = 'deployment' in entry ? entry.deployment : undefined;
  const title = d
    ? `${KIND_WORDS[entry.kind]} ${d.version}`
    : KIND_WORDS[entry.kind];
  const label = `${title} in ${entry.environment}`;
  return (
    <ListItem
      className={`${classes.item} ${d ? classes[d.status] : ''}`}
      aria-label={label}
    >
      <HeadingRow title={title} variant="subtitle1">
        <Chip size="small" variant="outlined" label={entry.environment} />
        {d && (
          <Chip size="small" color={STATUS_COLOR[d.status]} label={d.status} />
        )}
        {d && <Chip size="small" variant="outlined" label={d.strategy} />}
      </HeadingRow>
      <Typography variant="body2" color="textSecondary">
        by {entry.actor} {relativeTime(entry.createdAt)} (
        {new Date(entry.createdAt).toLocaleString()})
        {d?.startedAt &&
          ` · took ${duration(d.startedAt, d.finishedAt)}${
            d.finishedAt ? '' : ' so far'
          }`}
      </Typography>
      {entry.message && (
        <Typography variant="body2">{entry.message}</Typography>
      )}
      {'details' in entry && (
        <Box mt={0.5}>
          {detailChips({ ...entry.details }).map(chip => (
            <Chip
              key={chip}
              size="small"
              variant="outlined"
              style={{ marginRight: 4, marginBottom: 4 }}
              label={chip}
            />
          ))}
        </Box>
      )}
      {d && (
        <Box mt={0.5} display="flex" style={{ gap: 8 }}>
          <Button
            size="small"
            aria-expanded={expanded}
            onClick={() => setExpanded(!expanded)}
            aria-label={`${expanded ? 'Hide' : 'Show'} steps of ${label}`}
          >
            {expanded ? 'Hide steps' : `Steps (${d.steps.length})`}
          </Button>
          {onRedeploy && d.status === 'succeeded' && (
            <Button
              size="small"
              variant="outlined"
              onClick={() => onRedeploy(entry)}
              aria-label={`Redeploy ${d.version} to ${entry.environment}`}
            >
              Redeploy
            </Button>
          )}
        </Box>
      )}
      {d && expanded && <StepList deployment={d} />}
      {d && isWaitingForApproval(d) && (
        <ApprovalActions
          entityRef={d.entityRef}
          deployment={d}
          onDecided={() => onChanged?.()}
        />
      )}
    </ListItem>
  );
}
