import { useEffect, useRef } from 'react';
import { useConnection } from './connection';

// useReconnect calls refetch when the server answers again after it could
// not be reached, so a page shows fresh data without a reload.
export function useReconnect(refetch: () => void) {
  const { generation } = useConnection();
  const first = useRef(generation);
  useEffect(() => {
    if (generation !== first.current) refetch();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [generation]);
}
