"""Talking to WeChat: the API client, the shared access token, the callback codec."""
