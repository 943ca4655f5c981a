// The collector page's second row of actions: its logs (for everyone who sees it),
// and, for those who may act, Edit configuration, Rotate credentials and Unregister.
import { Button, Group } from '@mantine/core';
import { useState } from 'react';
import { Link, useNavigate } from 'react-router';
import type { CollectorDetail } from '../types';
import { EditConfigDialog } from './EditConfigDialog';
import { RotateDialog } from './RotateDialog';
import { UnregisterDialog } from './UnregisterDialog';

export function LifecycleActions({ detail, canAct, onChange }: { detail: CollectorDetail; canAct: boolean; onChange: () => void }) {
  const [open, setOpen] = useState<'config' | 'rotate' | 'unregister' | null>(null);
  const navigate = useNavigate();
  return (
    <Group gap="xs" aria-label="More actions">
      <Button component={Link} to={`/collectors/${encodeURIComponent(detail.id)}/logs`} variant="default">View Logs</Button>
      {canAct && (
        <>
          <Button variant="default" onClick={() => setOpen('config')}>Edit Configuration…</Button>
          <Button variant="default" onClick={() => setOpen('rotate')}>Rotate Credentials…</Button>
          <Button variant="light" color="red" onClick={() => setOpen('unregister')}>Unregister…</Button>
        </>
      )}
      {open === 'config' && <EditConfigDialog detail={detail} onClose={() => { setOpen(null); onChange(); }} />}
      {open === 'rotate' && <RotateDialog collectorId={detail.id} provider={detail.provider} onClose={() => { setOpen(null); onChange(); }} />}
      {open === 'unregister' && <UnregisterDialog collectorId={detail.id} provider={detail.provider} onClose={(gone) => { setOpen(null); if (gone) navigate('/'); else onChange(); }} />}
    </Group>
  );
}
