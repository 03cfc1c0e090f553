import { useMemo } from 'react';
import Box from '@material-ui/core/Box';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { diffLines } from 'diff';
import type { ReleaseDetail } from '@internal/plugin-kube-delivery-common';
import { releaseText } from './releaseText';

const useStyles = makeStyles(theme => ({
  // The diff never sets the width of the card or dialog it is in: long lines
  // wrap (anywhere, as an image reference has no spaces) and the panel
  // scrolls, instead of the text running past the edge and being cut there.
  root: { minWidth: 0, maxWidth: '100%' },
  pre: {
    margin: 0,
    maxWidth: '100%',
    maxHeight: 480,
    overflow: 'auto',
    fontFamily: 'monospace',
    fontSize: '0.8rem',
    border: `1px solid ${theme.palette.divider}`,
    borderRadius: theme.shape.borderRadius,
  },
  line: {
    display: 'block',
    whiteSpace: 'pre-wrap',
    overflowWrap: 'anywhere',
    padding: '0 8px',
  },
  added: {
    backgroundColor:
      theme.palette.type === 'dark' ? '#1b4721' : 'rgba(46, 160, 67, 0.18)',
  },
  removed: {
    backgroundColor:
      theme.palette.type === 'dark' ? '#5a1e1e' : 'rgba(248, 81, 73, 0.18)',
  },
  context: { color: theme.palette.text.secondary },
}));

/** Unchanged lines kept around each change; longer runs are folded. */
const CONTEXT = 3;

type Line = { kind: 'added' | 'removed' | 'context'; text: string };

/** The line diff of two texts, with long unchanged runs folded to "… N unchanged lines". */
export function diffTexts(from: string, to: string) {
  const lines: Array<Line | { kind: 'fold'; count: number }> = [];
  let added = 0;
  let removed = 0;
  const parts = diffLines(from, to);
  parts.forEach((part, index) => {
    const text = part.value.endsWith('\n')
      ? part.value.slice(0, -1)
      : part.value;
    const partLines = text.split('\n');
    if (part.added || part.removed) {
      const kind = part.added ? 'added' : 'removed';
      if (part.added) added += partLines.length;
      else removed += partLines.length;
      partLines.forEach(l => lines.push({ kind, text: l }));
      return;
    }
    const keepHead = index === 0 ? 0 : CONTEXT;
    const keepTail = index === parts.length - 1 ? 0 : CONTEXT;
    if (partLines.length <= keepHead + keepTail + 1) {
      partLines.forEach(l => lines.push({ kind: 'context', text: l }));
      return;
    }
    partLines
      .slice(0, keepHead)
      .forEach(l => lines.push({ kind: 'context', text: l }));
    lines.push({ kind: 'fold', count: partLines.length - keepHead - keepTail });
    partLines
      .slice(partLines.length - keepTail)
      .forEach(l => lines.push({ kind: 'context', text: l }));
  });
  return { lines, added, removed };
}

const PREFIX = { added: '+ ', removed: '- ', context: '  ' };

/** The differences between two releases' settings and manifests, as a line diff. */
export function ManifestDiff(props: {
  from: ReleaseDetail;
  to: ReleaseDetail;
}) {
  const { from, to } = props;
  const classes = useStyles();
  const { lines, added, removed } = useMemo(
    () => diffTexts(releaseText(from), releaseText(to)),
    [from, to],
  );
  const label = `Changes from ${from.version} to ${to.version}`;
  return (
    <Box className={classes.root}>
      <Typography variant="subtitle2" component="p">
        {label}:{' '}
        {added + removed === 0
          ? 'none — both releases have the same manifest and settings'
          : `${added} line${added === 1 ? '' : 's'} added, ${removed} removed`}
      </Typography>
      {added + removed > 0 && (
        // Focusable so that keyboard users can scroll a long diff.
        // eslint-disable-next-line jsx-a11y/no-noninteractive-tabindex
        <pre className={classes.pre} aria-label={label} tabIndex={0}>
          {lines.map((line, i) =>
            line.kind === 'fold' ? (
              <span key={i} className={`${classes.line} ${classes.context}`}>
                … {line.count} unchanged lines
              </span>
            ) : (
              <span
                key={i}
                className={`${classes.line} ${
                  line.kind === 'context' ? classes.context : classes[line.kind]
                }`}
              >
                {PREFIX[line.kind]}
                {line.text}
              </span>
            ),
          )}
        </pre>
      )}
    </Box>
  );
}
