# The one image for every process: daphne workers and schedulers differ only in command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# Translations compiled from the .po sources (pure Python; no gettext in a slim image).
RUN SECRET_KEY=build-only python manage.py compile_translations
# Static files (admin, API docs) are collected for nginx to serve.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input -v 0
RUN useradd --system --uid 1000 tombola && chown -R tombola /app
USER tombola
EXPOSE 8000
CMD ["python", "manage.py", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-scheduler"]
