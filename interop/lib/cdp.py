"""A small driver of headless Chromium over the DevTools protocol, for the
interop scripts: open pages, evaluate JavaScript in them, take screenshots.

    browser = Browser(devtools_port)
    page = await browser.open("http://127.0.0.1:8080/")
    value = await page.eval("document.title")
"""
import asyncio
import base64
import json
import urllib.request

from websockets.asyncio.client import connect


class Page:
    def __init__(self, ws):
        self.ws = ws
        self.ids = iter(range(1, 10**9))

    async def call(self, method, **params):
        i = next(self.ids)
        await self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            reply = json.loads(await self.ws.recv())
            if reply.get("id") == i:
                if "error" in reply:
                    raise RuntimeError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})

    async def eval(self, expression):
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expression, r["exceptionDetails"]))
        return r["result"].get("value")

    async def wait_for(self, expression, timeout=10.0):
        """Polls `expression` until it is truthy; returns its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                value = await self.eval(expression)
            except RuntimeError:
                value = None  # the page is still loading (elements missing)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("waited %.0f s for %s" % (timeout, expression))
            await asyncio.sleep(0.1)

    async def screenshot(self, path):
        png = await self.call("Page.captureScreenshot", format="png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(png["data"]))

    async def close(self):
        await self.ws.close()


class Browser:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%s" % port

    async def open(self, url):
        """A new tab (target) showing `url`, with its own DevTools socket."""
        req = urllib.request.Request(self.base + "/json/new?" + url, method="PUT")
        target = json.load(urllib.request.urlopen(req))
        ws = await connect(target["webSocketDebuggerUrl"], max_size=None)
        page = Page(ws)
        await page.call("Page.enable")
        await page.call("Runtime.enable")
        return page
