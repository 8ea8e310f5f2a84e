import json

from django.http import HttpResponseNotAllowed, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from core import streams
from core.urls import handler400, handler403, handler404, handler500  # noqa: F401
from core.urls import urlpatterns as core_urlpatterns


@csrf_exempt
def publish(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    body = json.loads(request.body)
    return JsonResponse(streams.publish(body["stream"], body["type"], body["data"]))


urlpatterns = [*core_urlpatterns, path("e2e/publish/", publish)]
