"""The assistant: retrieval, answer composition, abstention, feedback and the HTTP service.

Its public interface (what the Slack bot and the HTTP layer use) is re-exported here.
"""
