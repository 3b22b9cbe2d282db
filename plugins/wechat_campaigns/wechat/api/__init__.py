"""The WeChat API by family, each a part of ``WeChatClient`` with its result types beside it: ``mass``
(群发), ``custom`` (客服), ``template`` (模板), ``fans`` (followers and tags), ``media`` (materials and
drafts), ``quota``."""
