import type { ReactNode } from 'react';
import Box from '@material-ui/core/Box';
import Typography from '@material-ui/core/Typography';

/** A card's or entry's heading (an h3) followed by the chips that describe it, wrapping on narrow screens. */
export function HeadingRow(props: {
  title: ReactNode;
  variant: 'h6' | 'subtitle1';
  children: ReactNode;
}) {
  return (
    <Box display="flex" alignItems="center" flexWrap="wrap" style={{ gap: 8 }}>
      <Typography variant={props.variant} component="h3">
        {props.title}
      </Typography>
      {props.children}
    </Box>
  );
}
