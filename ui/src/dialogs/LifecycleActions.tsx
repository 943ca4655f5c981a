// The collector page's second row of actions: its logs (for everyone who sees it),
// and, for those who may act, Edit configuration, Rotate credentials and Unregister.
import { Alert, Button, Group, Loader, Modal, Text } from '@mantine/core';
import { useEffect, useState } from 'react';
import { ApiError, get } from '../api';
import { Link, useNavigate } from 'react-router';
import type { Collector, CollectorDetail } from '../types';
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

export type RowLifecycle = 'config' | 'rotate' | 'unregister';

/**
 * The same dialogs opened from a fleet row's menu, which holds the list's row
 * and not the collector's detail: Edit configuration loads the detail first.
 */
export function RowLifecycleDialog({ kind, collector, onClose }: { kind: RowLifecycle; collector: Collector; onClose: () => void }) {
  if (kind === 'rotate') return <RotateDialog collectorId={collector.id} provider={collector.provider} onClose={onClose} />;
  if (kind === 'unregister') return <UnregisterDialog collectorId={collector.id} provider={collector.provider} onClose={onClose} />;
  return <EditConfigFromRow id={collector.id} onClose={onClose} />;
}

function EditConfigFromRow({ id, onClose }: { id: string; onClose: () => void }) {
  const [detail, setDetail] = useState<CollectorDetail | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    const ctl = new AbortController();
    get<CollectorDetail>(`/collectors/${encodeURIComponent(id)}`, ctl.signal).then(setDetail).catch((e: unknown) => {
      if (e instanceof DOMException && e.name === 'AbortError') return;
      setError(e instanceof ApiError ? e.full : String(e));
    });
    return () => ctl.abort();
  }, [id]);
  if (detail) return <EditConfigDialog detail={detail} onClose={onClose} />;
  return (
    <Modal opened onClose={onClose} title={<Text fw={700}>Edit Configuration: {id}</Text>} size="xl" closeButtonProps={{ 'aria-label': 'Close' }}>
      {error ? <Alert color="red" role="alert" title="Cannot load the collector">{error}</Alert> : <Loader size="sm" aria-label="Loading" />}
    </Modal>
  );
}
