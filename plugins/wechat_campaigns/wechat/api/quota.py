"""The account's API quotas: what is used of a path's daily limit, and the monthly reset."""

from __future__ import annotations

from dataclasses import dataclass

from ...domain import paths
from ._family import ApiFamily


@dataclass(frozen=True)
class ApiQuota:
    daily_limit: int
    used: int
    remain: int


class QuotaApi(ApiFamily):
    def get_quota(self, cgi_path: str) -> ApiQuota:
        answer = self.call("POST", paths.OPENAPI_QUOTA_GET, body={"cgi_path": cgi_path})
        quota = answer["quota"]
        return ApiQuota(int(quota["daily_limit"]), int(quota["used"]), int(quota["remain"]))

    def clear_quota(self) -> None:
        """Reset every API's daily count (10 times a natural month)."""
        self.call("POST", paths.CLEAR_QUOTA, body={"appid": self.appid})

    def clear_api_quota(self, cgi_path: str) -> None:
        """Reset one API's daily count (50 times a natural month, apart from ``clear_quota``'s 10)."""
        self.call("POST", paths.OPENAPI_QUOTA_CLEAR, body={"cgi_path": cgi_path})
