"""Image metadata formats: the low layer that knows how generation parameters are written into
and read out of image files. It imports nothing else from ``webui``.

- :mod:`webui.metadata.infotext`: write and parse A1111 infotext (the ``parameters`` text).
- :mod:`webui.metadata.pnginfo`: PNG Info, :func:`~webui.metadata.pnginfo.read_generation_info`
  for an image written by any common tool; :mod:`webui.metadata.info` holds its result type.
- Containers: :mod:`~webui.metadata.png` (text chunks), :mod:`~webui.metadata.exif` (JPEG, WebP),
  :mod:`~webui.metadata.stealth` (A1111 stealth alpha/RGB bits).
- Tools: :mod:`~webui.metadata.a1111` (A1111, Forge, SD.Next, Civitai, Stability Matrix),
  :mod:`~webui.metadata.comfyui` (graph walker), :mod:`~webui.metadata.invokeai`,
  :mod:`~webui.metadata.fooocus`, :mod:`~webui.metadata.novelai`, :mod:`~webui.metadata.swarmui`;
  shared helpers in :mod:`~webui.metadata.values`, :mod:`~webui.metadata.jsonmap` and
  :mod:`~webui.metadata.sdparsers`.
"""
