// The fleet page's lifecycle buttons: register a new collector, re-register archived ones.
import { Button, Group } from '@mantine/core';
import { useState } from 'react';
import { useAuth } from '../auth';
import { RegisterDialog } from './RegisterDialog';
import { ReregisterDialog } from './ReregisterDialog';

export function FleetLifecycle({ onChange }: { onChange?: () => void }) {
  const { isViewerOnly } = useAuth();
  const [open, setOpen] = useState<'register' | 'reregister' | null>(null);
  if (isViewerOnly) return null;
  return (
    <Group gap="xs">
      <Button variant="default" onClick={() => setOpen('reregister')}>Re-register…</Button>
      <Button onClick={() => setOpen('register')}>Register New Collector</Button>
      {open === 'register' && <RegisterDialog onClose={(id) => { setOpen(null); if (id) onChange?.(); }} />}
      {open === 'reregister' && <ReregisterDialog onClose={(changed) => { setOpen(null); if (changed) onChange?.(); }} />}
    </Group>
  );
}
