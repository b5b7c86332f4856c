"""The live-chat widget: the SDK a website embeds, the iframe page it opens, the Widget API that
page calls (Chatwoot's /api/v1/widget/...), and the live stream that brings agents' replies."""
