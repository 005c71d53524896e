// What the signed-in user may do, for showing or hiding controls. Cosmetic only: the API
// decides every request on its own.
import { useGetMeQuery } from "@/client/orca-api";
import { useAppSelector } from "@/lib/store";

export function useMe() {
  const signedIn = useAppSelector((state) => state.session.status === "signed-in");
  return useGetMeQuery(undefined, { skip: !signedIn });
}

export function usePermissions() {
  const { data } = useMe();
  const granted = new Set(data?.permissions ?? []);
  return {
    me: data,
    can: (permission: string) => granted.has(permission),
  };
}
