"""The LLM side: client over the openai SDK, function schemas, scripted models.

Built in the agent issue on top of :mod:`memvisor.events`.
"""

__all__: list[str] = []
